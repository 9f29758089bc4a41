"""``netdrv new-driver``: the project it writes installs, is listed, passes its own tests, loads.

The project is pip-installed with ``--target`` into a temporary directory (never
into this environment) and used through ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdrv_core import PluginManager
from netdrv_core.cli import cli
from netdrv_core.testing import NetNamespace

from .helpers import wait_for
from .plugin_helpers import drivers_json, env_with, pip_install_target, run_pytest

NAME = "scaffdemo"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project, target): ``netdrv new-driver`` output, pip-installed into ``target``."""
    root = tmp_path_factory.mktemp("scaffold")
    project = root / f"netdrv-{NAME}"
    res = CliRunner().invoke(cli, ["new-driver", NAME, "--directory", str(project)])
    assert res.exit_code == 0, res.output
    target = root / "site"
    pip_install_target(project, target)
    return project, target


def test_new_driver_writes_a_complete_project(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    res = CliRunner().invoke(cli, ["new-driver", "my_drv", "-d", str(project)])
    assert res.exit_code == 0, res.output
    files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())
    assert files == [
        ".gitignore", "README.md", "pyproject.toml", "src/netdrv_my_drv/__init__.py",
        "src/netdrv_my_drv/driver.py", "tests/test_my_drv.py", "tests/test_my_drv_conformance.py",
    ]  # fmt: skip
    for f in files:
        assert f"created {project / f}" in res.output
    pyproject = (project / "pyproject.toml").read_text()
    assert '[project.entry-points."netdrv.drivers"]\nmy_drv = "netdrv_my_drv"' in pyproject
    assert '"netdrv>=' in pyproject
    init = (project / "src/netdrv_my_drv/__init__.py").read_text()
    assert init.startswith('"""my_drv: ') and "@hookimpl" in init and "def netdrv_drivers" in init
    assert (
        "class TestConformance(DriverConformance)"
        in (project / "tests/test_my_drv_conformance.py").read_text()
    )
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                           "--select", "E,F,W,I,B,UP", str(project)],
                          capture_output=True, text=True)  # fmt: skip
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_new_driver_refuses_bad_names_and_existing_directories(tmp_path: Path) -> None:
    runner = CliRunner()
    for bad in ("my-drv", "9lives", "class", "drv.x", ""):
        res = runner.invoke(cli, ["new-driver", bad, "-d", str(tmp_path / "x")])
        assert res.exit_code == 2, (bad, res.output)
        assert "must be a Python identifier" in res.output
        assert not (tmp_path / "x").exists()
    assert "e.g. my_drv" in runner.invoke(cli, ["new-driver", "my-drv"]).output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    res = runner.invoke(cli, ["new-driver", "okname", "-d", str(busy)])
    assert res.exit_code == 2 and "already exists and is not empty" in res.output
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(cli, ["new-driver", "okname", "-d", str(empty)]).exit_code == 0


def test_default_directory_is_netdrv_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["new-driver", "dflt"]).exit_code == 0
    assert (tmp_path / "netdrv-dflt" / "src" / "netdrv_dflt" / "driver.py").is_file()


def test_installed_project_is_listed_with_its_summary(installed: tuple[Path, Path]) -> None:
    _project, target = installed
    listed = drivers_json(env_with(target))
    d = listed[NAME]
    assert d["distribution"] == f"netdrv-{NAME}" and d["version"] == "0.1.0"
    assert d["summary"] == f"{NAME}: a minimal Ethernet driver that counts and frees every frame."
    assert {"snull", "loopback"} <= set(listed)
    assert NAME not in PluginManager().driver_names(), "installed into this environment?"


def test_generated_tests_pass_unchanged(installed: tuple[Path, Path]) -> None:
    project, target = installed
    env = env_with(target)
    res = run_pytest(env, project, "-q", str(project / "tests"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert " passed" in res.stdout and "failed" not in res.stdout and "error" not in res.stdout
    listing = run_pytest(env, project, "--collect-only", "-q", str(project / "tests")).stdout
    kit = [ln for ln in listing.splitlines() if "::TestConformance::" in ln]
    assert len(kit) >= 13, listing


def _readme_commands(project: Path, heading: str) -> list[str]:
    """The commands of the first ``sh`` block under ``## heading``, comments removed."""
    section = (project / "README.md").read_text().split(f"## {heading}\n", 1)[1]
    block = section.split("\n## ", 1)[0].split("```sh\n", 1)[1].split("```", 1)[0]
    return [ln.split("  #", 1)[0].strip() for ln in block.splitlines() if ln.strip()]


@pytest.mark.netns
def test_generated_driver_loads_as_kernel_interfaces(
    installed: tuple[Path, Path], netns: NetNamespace
) -> None:
    """The README's "Use it" commands, as written: load, address, up, ping, status, unload.

    ``sudo`` is dropped (the test is root) and ``pip install`` skipped (done by
    the fixture); ``netdrv`` is this interpreter's.
    """
    project, target = installed
    env = env_with(target)
    cli = f"{sys.executable} -m netdrv_core.cli"

    def run(cmd: str, check: bool = True) -> str:
        cmd = re.sub(r"^netdrv ", f"{cli} ", cmd.removeprefix("sudo "))
        return netns.run(["sh", "-c", cmd], env=env, check=check).stdout

    commands = _readme_commands(project, "Use it")
    assert commands[0] == "pip install -e ." and commands[-1] == f"sudo netdrv unload {NAME}"
    outputs = [run(c, check=not c.startswith("ping")) for c in commands[1:-1]]
    assert f"{NAME}: {NAME}0, {NAME}1" in "".join(outputs)
    links = netns.run("ip -o link show").stdout
    for i in (0, 1):
        line = next(ln for ln in links.splitlines() if f" {NAME}{i}:" in ln)
        assert "link/ether" in line
    st = json.loads(run("netdrv status --json"))
    d = next(x for x in st["devices"] if x["name"] == f"{NAME}0")
    assert d["driver"] == NAME and d["state"] == "up" and d["stats"]["tx_packets"] > 0
    assert d["core"]["tx_submitted"] == (
        d["stats"]["tx_packets"] + d["stats"]["tx_dropped"] + d["stats"]["tx_errors"]
    )
    run(commands[-1])
    assert wait_for(lambda: f"{NAME}0" not in netns.run("ip -o link").stdout)


def test_name_of_an_imported_helper_generates_a_clean_project(tmp_path: Path) -> None:
    """``ether``: the generated setup function no longer shadows (and recurses into) ether_setup."""
    project = tmp_path / "ether"
    res = CliRunner().invoke(cli, ["new-driver", "ether", "-d", str(project)])
    assert res.exit_code == 0, res.output
    driver = (project / "src/netdrv_ether/driver.py").read_text()
    assert "def ether_netdev_setup(" in driver and "def ether_setup(" not in driver
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                           "--select", "E,F,W,I,B,UP", str(project)],
                          capture_output=True, text=True)  # fmt: skip
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
