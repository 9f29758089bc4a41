"""The on-demand atheris targets (fuzz/atheris_*.py) keep working without atheris."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent.parent / "fuzz"
SCRIPT = FUZZ / "atheris_core.py"


@pytest.mark.parametrize("script", ["atheris_core", "atheris_serial", "atheris_usb"])
def test_every_target_passes_its_smoke_run(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(script, FUZZ / f"{script}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    netdrv_log = logging.getLogger("netdrv")
    level = netdrv_log.level
    try:
        assert mod.smoke(60) == 0
    finally:
        netdrv_log.setLevel(level)  # the targets silence netdrv's (expected) fault logs
    out = capsys.readouterr().out
    for name in mod.TARGET_NAMES:
        assert f"{name}: " in out and "inputs ok" in out
    listed = subprocess.run([sys.executable, str(FUZZ / f"{script}.py"), "list"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listed.stdout.split() == list(mod.TARGET_NAMES)


def test_without_atheris_a_target_run_explains_itself() -> None:
    if importlib.util.find_spec("atheris") is not None:
        pytest.skip("atheris is installed here")
    res = subprocess.run([sys.executable, str(SCRIPT), "vnet"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert res.returncode == 2
    assert "pip install atheris" in res.stderr and "--smoke" in res.stderr
