"""``netdrv new-driver NAME``: a name either generates a working project or is refused up front.

Names that once generated broken projects: ``ether`` (the generated setup
function shadowed the imported ``ether_setup`` and recursed), ``__x`` (name-
mangled inside the driver class), ``core`` (package ``netdrv_core`` shadowing
netdrv itself); and the hint for a keyword suggested the keyword itself.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdrv_core import Driver
from netdrv_core.cli import cli
from netdrv_core.scaffold import ScaffoldError, create_driver_project, validate_driver_name
from netdrv_core.testing.conformance import DriverConformance, DriverHarness

BAD_NAMES = {
    "class": "not a keyword",
    "def": "not a keyword",
    "my-drv": "must be a Python identifier",
    "9lives": "must be a Python identifier",
    "": "must be a Python identifier",
    "__foo": "must not start with '__'",
    "__init__": "must not start with '__'",
    "_": "only underscores",
    "core": "would shadow netdrv's own netdrv_core",
    "snull": "would shadow netdrv's own netdrv_snull",
    "loopback": "would shadow netdrv's own netdrv_loopback",
    "serial": "would shadow netdrv's own netdrv_serial",
    "usbnet": "would shadow netdrv's own netdrv_usbnet",
    "slip": "an installed driver is already called 'slip'",
    "net_device": "would define NetDeviceOps, shadowing the NetDeviceOps it imports",
}


@pytest.mark.parametrize("name", list(BAD_NAMES))
def test_bad_name_is_refused_with_a_valid_hint_and_nothing_created(
    name: str, tmp_path: Path
) -> None:
    target = tmp_path / "proj"
    with pytest.raises(ScaffoldError, match=f"invalid driver name {name!r}") as err:
        create_driver_project(name, target)
    assert BAD_NAMES[name] in str(err.value)
    assert not target.exists()
    hint = str(err.value).rsplit("(e.g. ", 1)[1].rstrip(")")
    assert hint != name and validate_driver_name(hint) == hint  # the hint itself works
    res = CliRunner().invoke(cli, ["new-driver", name, "-d", str(target)])
    assert res.exit_code == 2 and BAD_NAMES[name] in res.output, res.output
    assert not target.exists()


def test_keyword_hint_is_not_the_keyword() -> None:
    with pytest.raises(ScaffoldError, match=r"\(e\.g\. class_drv\)"):
        validate_driver_name("class")


def test_bad_name_in_the_default_directory_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("core", "__x", "class"):
        assert CliRunner().invoke(cli, ["new-driver", name]).exit_code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Path]:
    """The tmp dir projects are written to; their modules are forgotten afterwards."""
    yield tmp_path
    for mod in [m for m in sys.modules if m.startswith("netdrv_") and m != "netdrv_core"]:
        if str(tmp_path) in (getattr(sys.modules[mod], "__file__", None) or ""):
            del sys.modules[mod]


def _load_generated(root: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> type[Driver]:
    create_driver_project(name, root / name)
    monkeypatch.syspath_prepend(str(root / name / "src"))
    plugin = importlib.import_module(f"netdrv_{name}")
    (cls,) = plugin.netdrv_drivers()
    assert issubclass(cls, Driver) and cls.name == name
    return cls


@pytest.mark.parametrize("name", ["ether", "setup", "driver", "alloc_netdev", "_x", "_9x", "Net"])
@pytest.mark.parametrize(
    "test", ["test_registration_and_naming", "test_every_skb_accounted", "test_clean_unload"]
)
def test_tricky_valid_names_generate_a_working_driver(
    name: str, test: str, generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = _load_generated(generated, name, monkeypatch)
    h = DriverHarness(name, driver_class=cls, settle_timeout=1.0)
    try:
        getattr(DriverConformance(), test)(h)  # init (count=2), traffic, exit
    finally:
        h.close()
