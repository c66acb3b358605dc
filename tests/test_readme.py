"""The README's quick start is two lines, and CI runs exactly the test command it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from climb.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def first_bash_block(markdown: str) -> list[str]:
    match = re.search(r"^```bash\n(.*?)^```", markdown, flags=re.M | re.S)
    assert match, "README.md has no ```bash block"
    return [line for line in match.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def ci_test_command_pattern() -> str:
    """The regex .ci/run greps README.md with to find the command it runs."""
    match = re.search(r"grep -m1 -E '([^']+)' README\.md", CI)
    assert match, ".ci/run no longer greps the test command out of README.md"
    return match.group(1)


def test_quick_start_is_the_first_section():
    headings = re.findall(r"^## (.+)$", README, flags=re.M)
    assert headings[0] == "Quick start"


def test_quick_start_has_exactly_two_command_lines():
    assert len(first_bash_block(README)) == 2


def test_first_line_installs_with_the_dev_extra_and_runs_the_demo():
    install, _ = first_bash_block(README)
    steps = [shlex.split(step) for step in install.split("&&")]
    assert steps[0][:3] == ["pip", "install", "-e"] and steps[0][3] == ".[dev]"
    assert steps[-1] == ["climb", "demo"]
    assert "demo" in COMMANDS


def test_second_line_is_the_command_ci_runs():
    _, test_line = first_bash_block(README)
    ci_lines = [line for line in README.splitlines() if re.match(ci_test_command_pattern(), line)]
    assert ci_lines, "the pattern .ci/run uses finds nothing in README.md"
    assert ci_lines[0] == test_line
    assert shlex.split(test_line)[:3] == ["python", "-m", "pytest"]


def test_ci_treats_no_collected_tests_as_a_failure_and_says_so():
    case = re.search(r"^\s*5\)(.*)$", CI, flags=re.M)
    assert case, ".ci/run does not handle pytest's exit code 5"
    assert "echo" in case.group(1) and "exit 1" in case.group(1)


def test_ci_builds_a_fresh_environment_from_the_projects_own_files():
    assert re.search(r"^\s*rm -rf \.venv$", CI, flags=re.M)
    assert re.search(r'-m venv \.venv', CI)
    assert re.search(r'pip install .*-e "\.\[dev\]"', CI)


def test_documentation_links_point_to_existing_files():
    for target in re.findall(r"\]\(((?!https?://)[^)#]+)\)", README):
        assert (ROOT / target).is_file(), target


def test_architecture_doc_names_only_existing_paths():
    """docs/ARCHITECTURE.md is kept true: every `path/` it names exists (its last section lists what does not)."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    built, _, _ = doc.partition("## Not built yet")
    paths = set(re.findall(r"`([\w.\-]*/[\w.\-/]*)`", built))
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []
