"""The README ``netdrv new-driver`` writes: commands an author can paste, whatever the name."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdrv_core.scaffold import create_driver_project


@pytest.mark.parametrize("name", ["mydrv", "a_much_longer_name", "x"])
def test_use_it_comments_line_up_and_the_venv_pitfalls_are_said(tmp_path: Path, name: str) -> None:
    create_driver_project(name, tmp_path / "p")
    readme = (tmp_path / "p" / "README.md").read_text()
    block = readme.split("## Use it\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [ln for ln in block.splitlines() if ln.strip()]
    assert lines[0].startswith("pip install -e .") and lines[-1].startswith(
        f"sudo netdrv unload {name}"
    )
    columns = {ln.index("# ") for ln in lines if "# " in ln}
    assert len(columns) == 1, block  # one column of comments, not ragged per name length
    assert min(len(ln.split("  #", 1)[0].rstrip()) for ln in lines if "  #" in ln) > 0
    assert f"sudo netdrv load {name} count=2" in block
    # A virtualenv's netdrv is not root's, nor, with --system-site-packages, the one on PATH.
    assert '`sudo "$(command -v netdrv)" …`' in readme
    assert "`python -m netdrv_core.cli …`" in readme and "--system-site-packages" in readme


def test_two_projects_tests_are_collected_in_one_session(tmp_path: Path) -> None:
    """An author with several drivers runs their tests at once: the test modules are named
    after each driver, where two ``tests/test_conformance.py`` outside packages made
    pytest stop with "import file mismatch"."""
    import subprocess
    import sys

    for name in ("one", "two"):
        create_driver_project(name, tmp_path / name)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         str(tmp_path / "one" / "tests"), str(tmp_path / "two" / "tests")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "test_one_conformance.py::TestConformance" in res.stdout
    assert "test_two_conformance.py::TestConformance" in res.stdout


def test_the_generated_project_is_ruff_clean(tmp_path: Path) -> None:
    """An author's first ``ruff check`` of the fresh project finds nothing to fix: the class-level
    parameter dicts are ``ClassVar`` (RUF012, on by default in recent ruff), as the base classes
    declare them."""
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    create_driver_project("mydrv", tmp_path / "p")
    res = subprocess.run(
        [ruff, "check", "--isolated", "--no-cache", "--extend-select", "RUF012,F,E,I", "."],
        capture_output=True, text=True, timeout=120, cwd=tmp_path / "p",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", ["x", "mydrv", "a_much_longer_name", "n" * 32])
def test_the_generated_project_is_ruff_format_clean(tmp_path: Path, name: str) -> None:
    """``ruff format`` of the fresh project changes nothing, for names of up to 32 characters:
    the interface-name pattern (up to 11 characters of the name) and the setup function's name
    once pushed lines past 88 columns."""
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    create_driver_project(name, tmp_path / "p")
    res = subprocess.run(
        [ruff, "format", "--isolated", "--no-cache", "--check", "--diff", "."],
        capture_output=True, text=True, timeout=120, cwd=tmp_path / "p",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
