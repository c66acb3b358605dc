"""The command line: every DESIGN.md command has --help, `datasets` lists the registry, and commands
that are not built yet say what they await instead of printing anything fake."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from climb import cli
from climb.cli import COMMANDS, build_parser, main
from climb.pipelines.sources import source_names
from climb.schemas.tasks import TASKS
from climb.version import CODE_VERSION

DESIGN_COMMANDS = {"datasets", "convert", "inspect", "preview", "verify", "reproduce", "train", "evaluate", "embed", "s3", "demo"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse exits for --help and usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_design_command_is_registered_and_parsed():
    assert DESIGN_COMMANDS <= set(COMMANDS)
    assert set(_subcommands(build_parser())) == set(COMMANDS)


def test_top_level_help_lists_every_command(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    for name in DESIGN_COMMANDS:
        assert name in out


@pytest.mark.parametrize("argv", [[c, "--help"] for c in sorted(COMMANDS)] + [["s3", "serve", "--help"]], ids=" ".join)
def test_every_command_has_help(argv, capsys):
    code, out, _ = run_main(argv, capsys)
    assert code == 0
    assert out.startswith(f"usage: climb {' '.join(argv[:-1])}")


def test_no_command_prints_help_and_fails(capsys):
    code, out, _ = run_main([], capsys)
    assert code == 2
    assert out.startswith("usage: climb")


def test_version(capsys):
    code, out, _ = run_main(["--version"], capsys)
    assert (code, out.strip()) == (0, f"climb {CODE_VERSION}")


def test_datasets_lists_every_source_and_task(capsys):
    code, out, _ = run_main(["datasets"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SOURCE", "MODALITIES", "TASKS"]
    for name in source_names():
        assert any(line.split()[:1] == [name] for line in lines), name
    for name, task in TASKS.items():
        assert any(line.split()[:2] == [name, task.type] for line in lines), name


def test_unbuilt_command_says_what_it_awaits_and_fails(monkeypatch, capsys):
    monkeypatch.setitem(COMMANDS, "demo", ("climb.no_such_module_yet:cli_demo", "demo"))
    code, out, err = run_main(["demo"], capsys)
    assert code != 0
    assert out == ""
    assert "climb demo: not available yet; it awaits the demo capability" in err


def test_module_without_the_handler_counts_as_unbuilt(monkeypatch, capsys):
    monkeypatch.setitem(COMMANDS, "verify", ("climb.storage:cli_verify", "conversion engine (verify)"))
    code, _, err = run_main(["verify", "out/ptbxl"], capsys)
    assert code != 0
    assert "awaits the conversion engine (verify) capability" in err


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """Write a handler module onto sys.path and return a function that points a command at it."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(name: str, body: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
        return name

    return make


def test_missing_third_party_dependency_is_not_disguised_as_unbuilt(plugin_module, monkeypatch, capsys):
    module = plugin_module("climb_test_broken_handler", "import no_such_dependency_xyz\ndef run(args):\n    return 0\n")
    monkeypatch.setitem(COMMANDS, "inspect", (f"{module}:run", "inspect"))
    code, _, err = run_main(["inspect", "out/ptbxl"], capsys)
    assert code == 1
    assert "internal error: ModuleNotFoundError" in err
    assert "awaits" not in err


def test_user_error_is_one_line_with_exit_code_2(plugin_module, monkeypatch, capsys):
    module = plugin_module(
        "climb_test_user_error",
        """
        from climb.errors import UserError
        def run(args):
            raise UserError("no manifest.json under out/ptbxl; run `climb convert` first")
        """,
    )
    monkeypatch.setitem(COMMANDS, "inspect", (f"{module}:run", "inspect"))
    code, _, err = run_main(["inspect", "out/ptbxl"], capsys)
    assert code == 2
    assert err == "climb inspect: no manifest.json under out/ptbxl; run `climb convert` first\n"


def test_handler_exit_code_is_returned(plugin_module, monkeypatch, capsys):
    module = plugin_module("climb_test_exit_code", "def run(args):\n    print(args.dataset_url)\n    return 1\n")
    monkeypatch.setitem(COMMANDS, "verify", (f"{module}:run", "verify"))
    code, out, _ = run_main(["verify", "out/ptbxl"], capsys)
    assert (code, out) == (1, "out/ptbxl\n")


@pytest.mark.parametrize("text, size", [("256MB", 256_000_000), ("1GiB", 2**30), ("4096", 4096), ("1.5kb", 1500)])
def test_shard_size_accepts_units(text, size):
    assert cli._size(text) == size


def test_shard_size_rejects_unknown_units():
    with pytest.raises(argparse.ArgumentTypeError, match="256MB"):
        cli._size("12 parsecs")


def test_python_dash_m_climb_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "climb", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: climb")


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "climb"
    result = subprocess.run([str(script), "datasets"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "TASK" in result.stdout


def test_all_mapped_packages_import_in_a_fresh_interpreter():
    code = "import climb.schemas, climb.transforms, climb.pipelines, climb.loaders, climb.trainer"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_unreachable_s3_endpoint_is_one_line_with_what_to_check(tmp_path, monkeypatch, capsys):
    from climb.cli import main
    from climb.transforms.phi import DEMO_KEY, KEY_ENV

    monkeypatch.setenv(KEY_ENV, DEMO_KEY.decode())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code = main(["convert", "dicom", "s3://nobucket/raw", str(tmp_path), "--s3-endpoint", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the S3 endpoint" in err and "Traceback" not in err
