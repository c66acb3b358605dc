"""A normal (non-editable) install carries every mapped folder inside the `climb` package.

Editable installs resolve setup.cfg's package_dir mapping with a path finder, which hides a
subpackage missing from `packages =`; a wheel does not, so this builds one and looks inside.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "climb-demo", "tests", "benchmarks", "docker"
)


def package_dirs() -> dict[str, str]:
    """setup.cfg's package_dir: import name -> folder."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    pairs = [line.split("=") for line in cfg["options"]["package_dir"].strip().splitlines()]
    return {name.strip(): folder.strip() for name, folder in pairs}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source tree, so the build never writes into the shared checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCES)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [built] = (tmp / "dist").glob("climb-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_files(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


@pytest.mark.parametrize(
    "path",
    [
        "climb/__init__.py",
        "climb/__main__.py",
        "climb/cli.py",
        "climb/storage.py",
        "climb/s3/__init__.py",
        "climb/report/__init__.py",
        "climb/schemas/sample.py",
        "climb/schemas/tasks.py",
        "climb/schemas/task_defs/ecg.py",
        "climb/transforms/splits.py",
        "climb/transforms/phi.py",
        "climb/pipelines/sources/__init__.py",
        "climb/pipelines/writers/__init__.py",
        "climb/loaders/__init__.py",
        "climb/trainer/__init__.py",
    ],
)
def test_wheel_contains(wheel_files, path):
    assert path in wheel_files


def test_wheel_ships_every_source_spec(wheel_files):
    """The spec sources are YAML package data (setup.cfg [options.package_data]): an installed climb needs them."""
    specs = sorted(p.name for p in (ROOT / "pipelines" / "sources" / "specs").glob("*.yaml"))
    assert specs and all(f"climb/pipelines/sources/specs/{name}" in wheel_files for name in specs)


def test_every_source_package_is_listed_in_setup_cfg(wheel_files):
    """A folder with __init__.py under a mapped root must reach the wheel (else: add it to `packages =`)."""
    missing = []
    for name, folder in package_dirs().items():
        root = ROOT / folder
        for init in sorted(root.rglob("__init__.py")):
            if "__pycache__" in init.parts:
                continue
            rel = init.relative_to(root).as_posix()
            wheel_path = f"{name.replace('.', '/')}/{rel}"
            if wheel_path not in wheel_files:
                missing.append(f"{folder}/{rel}")
    assert missing == [], "add these packages to setup.cfg `packages =`: " + ", ".join(missing)


def test_wheel_installs_only_the_climb_package(wheel_files):
    top = {name.split("/")[0] for name in wheel_files if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"climb"}


def test_wheel_declares_the_console_script(wheel, wheel_files):
    [entry_points] = [n for n in wheel_files if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(entry_points).decode()
    assert "climb = climb.cli:main" in text


def test_installed_wheel_imports_from_its_own_files(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    code = (
        "import climb.schemas, climb.transforms, climb.pipelines, climb.loaders, climb.trainer, climb.cli\n"
        "from climb.pipelines.sources import source_names\n"
        "print(climb.schemas.__file__); print(climb.transforms.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        assert line.startswith(str(target)), line
