"""The code type-checks: ``mypy`` (configured in ``pyproject.toml``: netdrv_core and the
first-party plugins) reports nothing, so the type hints a driver author reads are true."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (pip install -e '.[test]'; the [all] extra has it)",
)
def test_mypy_finds_nothing(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, f"mypy found type errors:\n{res.stdout}{res.stderr}"
    assert "Success: no issues found" in res.stdout


def test_netdrv_core_ships_its_type_hints() -> None:
    # PEP 561: without py.typed in the installed package, a driver project's mypy reports
    # netdrv_core as untyped ("Cannot find implementation or library stub") and checks nothing.
    import tomllib

    assert (ROOT / "netdrv_core" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["netdrv_core"]
