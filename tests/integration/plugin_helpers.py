"""Helpers for tests that install a driver plugin project with ``pip --target`` and use it.

Nothing is installed into this environment: the project goes into a temporary
directory that subprocesses get on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def copy_project(src: Path, dst: Path) -> Path:
    """Copy a project tree without build artefacts (an in-tree build would leave some)."""
    shutil.copytree(
        src, dst, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")
    )
    return dst


def pip_install_target(project: Path, target: Path) -> None:
    """``pip install --no-deps --no-build-isolation --target TARGET PROJECT``; fail with pip's output."""
    res = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(target),
         str(project)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, (
        f"pip install of {project} failed (building needs setuptools and wheel in this "
        f"environment: pip install -e '.[test]'):\n{res.stdout}\n{res.stderr}"
    )


def env_with(target: Path) -> dict[str, str]:
    """This environment with ``target`` first on PYTHONPATH, no pytest/netdrv variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    return env


def netdrv_cli(
    env: Mapping[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -m netdrv_core.cli ARGS`` in a subprocess with ``env``."""
    res = subprocess.run([sys.executable, "-m", "netdrv_core.cli", *args],
                         capture_output=True, text=True, timeout=120, env=dict(env))  # fmt: skip
    if check:
        assert res.returncode == 0, f"netdrv {' '.join(args)}: {res.stdout}{res.stderr}"
    return res


def drivers_json(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``netdrv drivers --json`` in a subprocess, by driver name."""
    return {d["name"]: d for d in json.loads(netdrv_cli(env, "drivers", "--json").stdout)}


def run_pytest(env: Mapping[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pytest -p no:cacheprovider ARGS`` in ``cwd`` with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=dict(env),
    )  # fmt: skip
