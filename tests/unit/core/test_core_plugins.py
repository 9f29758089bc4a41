"""Plugin discovery and guarded loading, with fake distributions on sys.path."""

from __future__ import annotations

import itertools
import logging
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from netdrv_core import Driver, Param, PluginError, PluginManager, hookimpl
from netdrv_core.plugins import DriverInfo

_seq = itertools.count()

GOOD_MODULE = '''
"""{summary}"""
from netdrv_core import Driver, Param, hookimpl


class FakeDriver(Driver):
    name = {drv!r}
    summary = "a fake"
    parameters = (Param("speed", int, 10, "how fast"),)

    def init(self):
        pass


@hookimpl
def netdrv_drivers():
    return [FakeDriver]
'''


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETDRV_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("NETDRV_PLUGINS", raising=False)


FakeDist = Callable[..., dict[str, str]]


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDist:
    """``fake_dist(drivers={driver: source}, dist=..., version=...)`` -> {driver: module name}.

    Writes one module per driver and a ``*.dist-info`` declaring them in the
    ``netdrv.drivers`` group, in a fresh directory put first on sys.path.
    """

    def make(
        drivers: dict[str, str], dist: str = "fake-netdrv-plugin", version: str = "1.2.3"
    ) -> dict[str, str]:
        n = next(_seq)
        root = tmp_path / f"site{n}"
        root.mkdir()
        mods: dict[str, str] = {}
        for drv, source in drivers.items():
            mod = f"netdrv_fake_{drv}_{n}"
            (root / f"{mod}.py").write_text(textwrap.dedent(source))
            mods[drv] = mod
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        eps = "".join(f"{d} = {m}\n" for d, m in mods.items())
        (info / "entry_points.txt").write_text(f"[netdrv.drivers]\n{eps}")
        monkeypatch.syspath_prepend(str(root))
        for m in mods.values():
            monkeypatch.delitem(sys.modules, m, raising=False)
        return mods

    return make


def pm(**kw: object) -> PluginManager:
    kw.setdefault("disabled", {"slip", "usbnet"})  # keep other teams' work out of these tests
    return PluginManager(**kw)  # type: ignore[arg-type]


def info(m: PluginManager, name: str) -> DriverInfo:
    return next(d for d in m.list_drivers() if d.name == name)


def test_list_drivers_reads_metadata_without_importing(fake_dist: FakeDist) -> None:
    mods = fake_dist({"fakea": GOOD_MODULE.format(summary="Fake A driver.", drv="fakea"),
                      "fakeb": GOOD_MODULE.format(summary="Fake B.", drv="fakeb")})  # fmt: skip
    m = pm()
    d = info(m, "fakea")
    assert d == DriverInfo("fakea", mods["fakea"], "fake-netdrv-plugin", "1.2.3", "Fake A driver.")
    assert d.origin == "fake-netdrv-plugin 1.2.3"
    names = m.driver_names()
    assert {"fakea", "fakeb", "snull", "loopback"} <= set(names)
    assert "slip" not in names
    assert mods["fakea"] not in sys.modules and mods["fakeb"] not in sys.modules


def test_loading_imports_only_the_requested_plugin(fake_dist: FakeDist) -> None:
    mods = fake_dist({"fakea": GOOD_MODULE.format(summary="A", drv="fakea"),
                      "fakeb": GOOD_MODULE.format(summary="B", drv="fakeb")})  # fmt: skip
    m = pm()
    cls = m.get_driver("fakea")
    assert issubclass(cls, Driver) and cls.name == "fakea"
    assert mods["fakea"] in sys.modules and mods["fakeb"] not in sys.modules
    assert m.load_plugin("fakea") is sys.modules[mods["fakea"]]  # loaded once
    assert [p.name for p in m.driver_parameters("fakea")] == ["speed"]


def test_a_plugin_that_fails_to_import_names_plugin_distribution_and_version(
    fake_dist: FakeDist,
) -> None:
    fake_dist({"broken": "import this_module_does_not_exist_anywhere\n",
               "fakeok": GOOD_MODULE.format(summary="ok", drv="fakeok")},
              dist="broken-dist", version="9.8.7")  # fmt: skip
    m = pm()
    with pytest.raises(PluginError) as ei:
        m.get_driver("broken")
    msg = str(ei.value)
    assert "'broken'" in msg and "broken-dist" in msg and "9.8.7" in msg
    assert "ModuleNotFoundError" in msg and "this_module_does_not_exist_anywhere" in msg
    assert "broken" in m.errors
    assert m.get_driver("fakeok").name == "fakeok"  # the others still load
    assert m.get_driver("snull").name == "snull"


def test_a_plugin_raising_systemexit_on_import_is_contained(fake_dist: FakeDist) -> None:
    fake_dist({"exiter": "raise SystemExit(3)\n"})
    with pytest.raises(PluginError, match="SystemExit"):
        pm().load_plugin("exiter")


def test_load_all_collects_errors(fake_dist: FakeDist, caplog: pytest.LogCaptureFixture) -> None:
    fake_dist({"broken2": "raise RuntimeError('kaputt')\n",
               "fakec": GOOD_MODULE.format(summary="c", drv="fakec")})  # fmt: skip
    m = pm()
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        errors = m.load_all()
    assert set(errors) == {"broken2"} and "kaputt" in str(errors["broken2"])
    assert m.get_driver("fakec").name == "fakec"
    assert any("broken2" in r.getMessage() for r in caplog.records)


def test_autoload_disabled_by_environment(
    fake_dist: FakeDist, monkeypatch: pytest.MonkeyPatch
) -> None:
    mods = fake_dist({"faked": GOOD_MODULE.format(summary="D driver", drv="faked")})
    monkeypatch.setenv("NETDRV_DISABLE_PLUGIN_AUTOLOAD", "1")
    m = pm()
    assert m.list_drivers() == []
    with pytest.raises(PluginError, match="unknown driver 'snull'"):
        m.get_driver("snull")
    monkeypatch.setenv("NETDRV_PLUGINS", mods["faked"])
    m2 = pm()
    assert [d.name for d in m2.list_drivers()] == [mods["faked"]]
    assert info(m2, mods["faked"]).distribution == "(-p)"
    assert info(m2, mods["faked"]).summary == "D driver"
    m2.load_plugin(mods["faked"])
    assert m2.get_driver("faked").name == "faked"


def test_explicit_plugins_argument_with_autoload_off(fake_dist: FakeDist) -> None:
    mods = fake_dist({"fakee": GOOD_MODULE.format(summary="e", drv="fakee")})
    m = pm(autoload=False, extra=[mods["fakee"]])
    m.load_plugin(mods["fakee"])
    assert m.get_driver("fakee").name == "fakee"


def test_disabled_plugins(fake_dist: FakeDist) -> None:
    mods = fake_dist({"fakef": GOOD_MODULE.format(summary="f", drv="fakef")})
    m = pm(disabled={"fakef", "slip", "usbnet"})
    assert info(m, "fakef").disabled and "fakef" not in m.driver_names()
    with pytest.raises(PluginError, match=r"disabled \(-p no:fakef"):
        m.get_driver("fakef")
    assert mods["fakef"] not in sys.modules
    with pytest.raises(PluginError, match="disabled"):
        m.register(object(), name="fakef")


def test_unknown_driver_has_a_hint(fake_dist: FakeDist) -> None:
    with pytest.raises(PluginError) as ei:
        pm().get_driver("snul")
    msg = str(ei.value)
    assert "unknown driver 'snul'" in msg and "Did you mean: snull" in msg
    assert "Installed drivers:" in msg and "loopback" in msg


def test_a_driver_name_already_taken_is_a_clear_error(fake_dist: FakeDist) -> None:
    mods = fake_dist({"dupe": GOOD_MODULE.format(summary="dupe", drv="snull")},
                     dist="dupe-dist", version="0.0.1")  # fmt: skip
    m = pm()
    m.get_driver("snull")
    with pytest.raises(PluginError) as ei:
        m.load_plugin("dupe")
    msg = str(ei.value)
    assert "'dupe'" in msg and "dupe-dist 0.0.1" in msg and "'snull'" in msg
    assert "already provides" in msg and "-p no:" in msg
    # The rejected plugin is not left half-registered: loading it again fails again,
    # and its hooks are not called.
    with pytest.raises(PluginError, match="already provides"):
        m.load_plugin("dupe")
    assert m.pm.get_plugin("dupe") is None
    assert sys.modules[mods["dupe"]] not in m.pm.get_plugins()
    assert m.get_driver("snull").__module__ == "netdrv_snull.driver"


def test_plugin_offering_something_else_than_a_driver(fake_dist: FakeDist) -> None:
    fake_dist({"notdrv": "from netdrv_core import hookimpl\n\n"
               "@hookimpl\ndef netdrv_drivers():\n    return [int]\n"})  # fmt: skip
    with pytest.raises(PluginError, match=r"not a netdrv_core\.Driver subclass"):
        pm().get_driver("notdrv")


def test_plugin_whose_netdrv_drivers_raises(fake_dist: FakeDist) -> None:
    fake_dist({"rdrv": "from netdrv_core import hookimpl\n\n"
               "@hookimpl\ndef netdrv_drivers():\n    raise KeyError('x')\n"})  # fmt: skip
    with pytest.raises(PluginError, match="raised in netdrv_drivers: KeyError"):
        pm().get_driver("rdrv")


def test_entry_point_module_offering_another_name(fake_dist: FakeDist) -> None:
    fake_dist({"alias": GOOD_MODULE.format(summary="x", drv="realname")})
    with pytest.raises(PluginError, match=r"offers no driver named 'alias'.*realname"):
        pm().get_driver("alias")


def test_unknown_hook_is_refused() -> None:
    class Bad:
        @hookimpl
        def netdrv_no_such_hook(self) -> None: ...

    m = pm()
    with pytest.raises(PluginError, match="unknown hooks"):
        m.register(Bad(), name="bad")
    assert m.pm.get_plugin("bad") is None


def test_a_hook_with_arguments_the_spec_does_not_have_is_refused_and_unregistered() -> None:
    class BadArgs:
        @hookimpl
        def netdrv_device_carrier(self, dev: object) -> None: ...  # a good one, registered first

        @hookimpl
        def netdrv_device_up(self, dev: object, when: float) -> None: ...

    m = pm()
    with pytest.raises(PluginError, match=r"plugin 'badargs' .*has a bad hook"):
        m.register(BadArgs(), name="badargs")
    assert m.pm.get_plugin("badargs") is None and "badargs" in m.errors
    assert not [i for i in m.pm.hook.netdrv_device_carrier.get_hookimpls()
                if i.plugin_name == "badargs"], "none of its hooks may run"  # fmt: skip


@pytest.mark.parametrize(
    "source",
    [
        "@hookimpl\ndef netdrv_drivers(when):\n    return []\n",  # not the hookspec's arguments
        "class D(Driver):\n    name = 'bare'\n\n@hookimpl\ndef netdrv_drivers():\n    return D\n",
    ],
    ids=["bad-hook", "not-a-list"],
)
def test_one_broken_plugin_does_not_stop_the_others_from_loading(
    fake_dist: FakeDist, source: str
) -> None:
    fake_dist({"bare": "from netdrv_core import Driver, hookimpl\n\n" + source})
    m = pm()
    errors = m.load_all()
    assert list(errors) == ["bare"] and isinstance(errors["bare"], PluginError)
    assert m.get_driver("snull").name == "snull" and "snull" in m._loaded
    with pytest.raises(PluginError, match="bare"):
        m.get_driver("bare")


class UpRecorder:
    def __init__(self) -> None:
        self.seen: list[object] = []

    @hookimpl
    def netdrv_device_up(self, dev: object) -> None:
        self.seen.append(dev)

    @hookimpl
    def netdrv_driver_parameters(self, driver: str) -> list[Param]:
        return [Param("pcap", str, "", "capture file")] if driver == "snull" else []


class Raiser:
    @hookimpl
    def netdrv_device_up(self, dev: object) -> None:
        raise ValueError("plugin bug")

    @hookimpl
    def netdrv_driver_parameters(self, driver: str) -> list[Param]:
        raise RuntimeError("param hook bug")


def test_hook_raising_is_logged_with_the_plugin_name_and_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = pm()
    rec, bad = UpRecorder(), Raiser()
    m.register(bad, name="raiser-plugin")
    m.register(rec, name="recorder")
    with caplog.at_level(logging.ERROR, logger="netdrv.plugins"):
        m.notify("up", "DEV")
        results = m.call_guarded("netdrv_driver_parameters", driver="snull")
    assert rec.seen == ["DEV"]
    assert [p.name for r in results for p in r] == ["pcap"]
    msgs = [r.getMessage() for r in caplog.records]
    assert any("'raiser-plugin'" in s and "netdrv_device_up" in s and "plugin bug" in s
               for s in msgs)  # fmt: skip
    assert any("'raiser-plugin'" in s and "param hook bug" in s for s in msgs)
    assert [p.name for p in m.driver_parameters("snull")][-1] == "pcap"


def test_notify_of_an_event_without_a_hook_is_ignored() -> None:
    pm().notify("carrier", object())  # no netdrv_device_carrier hookspec: nothing happens
