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


def test_mypy_checks_every_first_party_package() -> None:
    # A driver added under plugins/ (CONTRIBUTING: "Adding a driver") is not type-checked
    # unless [tool.mypy] packages names it: mypy checks only the packages listed there.
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    checked = set(config["tool"]["mypy"]["packages"])
    on_disk = {p.parent.name for p in (ROOT / "plugins").glob("netdrv_*/__init__.py")}
    on_disk.add("netdrv_core")
    assert on_disk - checked == set(), (
        f"add {sorted(on_disk - checked)} to [tool.mypy] packages in pyproject.toml"
    )
    # ... and CONTRIBUTING says so, where it says how to add a driver in this repository.
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    adding = contributing.split("## Adding a driver", 1)[1]
    assert "[tool.mypy]" in adding and "packages" in adding
