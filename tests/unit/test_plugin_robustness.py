"""Broken third-party plugins never take netdrv down, and listing drivers imports nothing.

Fake distributions (``*.dist-info`` with ``entry_points.txt``, plus their
modules) are written to a temporary directory that ``netdrv`` subprocesses get
on ``PYTHONPATH`` — exactly how an installed plugin is found.  Every fake module
writes a marker file when it is imported, so a test can prove what was (not)
imported.  The same with a real ``netdrv load`` in a network namespace is in
tests/integration/test_broken_plugins.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from netdrv_core import PluginError, PluginManager

GOOD = '''
"""{name}: a well-behaved test driver."""
{marker}
from netdrv_core import Driver, Param, alloc_netdev, ether_setup, hookimpl


class GoodDriver(Driver):
    name = {name!r}
    summary = "a well-behaved test driver"
    parameters = (Param("speed", int, 10, "link speed", unit="Mbit/s"),)

    def init(self):
        dev = alloc_netdev(None, "good%d", ether_setup)
        dev.dev_addr = b"\\x02\\x00\\x00\\x00\\x00\\x09"
        self.register(dev)


@hookimpl
def netdrv_drivers():
    return [GoodDriver]
'''

BROKEN_IMPORT = '''
"""brokenimport: needs a library that is not installed."""
{marker}
import netdrv_robustness_missing_dependency  # noqa: F401
'''

RAISING_HOOK = '''
"""raisinghook: its netdrv_drivers hook raises."""
{marker}
from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers():
    raise RuntimeError("no hardware library found")
'''

HIJACKER = '''
"""hijacker: offers a driver called snull."""
{marker}
from netdrv_core import Driver, hookimpl


class FakeSnull(Driver):
    name = "snull"
    summary = "not the real snull"

    def init(self):
        pass


@hookimpl
def netdrv_drivers():
    return [FakeSnull]
'''

RAISE_ON_IMPORT = '''
"""{name}: test plugin number {n}, must never be imported by a listing."""
{marker}
raise RuntimeError("{name} was imported")
'''


class Site:
    """A directory of fake installed distributions, and the markers their modules leave."""

    def __init__(self, root: Path) -> None:
        self.root = root / "site"
        self.markers = root / "imported"
        self.root.mkdir()
        self.markers.mkdir()

    def add(
        self, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str],
        *, raw_entry_points: str | None = None,
    ) -> None:  # fmt: skip
        """Write ``modules`` (name -> source template) and a dist-info declaring ``entry_points``."""
        for mod, src in modules.items():
            marker = f"open({str(self.markers / mod)!r}, 'w').close()"
            (self.root / f"{mod}.py").write_text(
                textwrap.dedent(src).format(marker=marker, name=mod.removeprefix("netdrv_"))
                if "{n}" not in src else src,
            )  # fmt: skip
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        eps = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(raw_entry_points or f"[netdrv.drivers]\n{eps}")

    def imported(self) -> list[str]:
        """Modules that were imported (their marker exists)."""
        return sorted(p.name for p in self.markers.iterdir())

    def env(self) -> dict[str, str]:
        """An environment that sees this site first."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        return env

    def netdrv(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the netdrv CLI with this site installed."""
        return subprocess.run([sys.executable, "-m", "netdrv_core.cli", *args],
                              capture_output=True, text=True, timeout=120, env=self.env())  # fmt: skip

    def drivers(self, *args: str) -> list[dict[str, Any]]:
        """``netdrv drivers --json`` rows (the command must succeed)."""
        res = self.netdrv(*args, "drivers", "--json") if args and args[0] == "-p" else \
            self.netdrv("drivers", "--json", *args)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        return list(json.loads(res.stdout))


@pytest.fixture
def broken_site(tmp_path: Path) -> Site:
    """One healthy third-party plugin and every kind of broken one."""
    s = Site(tmp_path)
    s.add("netdrv-goodone", "1.0", {"goodone": "netdrv_goodone"}, {"netdrv_goodone": GOOD})
    s.add("netdrv-brokenimport", "2.3.4", {"brokenimport": "netdrv_brokenimport"},
          {"netdrv_brokenimport": BROKEN_IMPORT})  # fmt: skip
    s.add("netdrv-raisinghook", "0.9", {"raisinghook": "netdrv_raisinghook"},
          {"netdrv_raisinghook": RAISING_HOOK})  # fmt: skip
    s.add("netdrv-hijacker", "6.6.6", {"hijacker": "netdrv_hijacker"},
          {"netdrv_hijacker": HIJACKER})  # fmt: skip
    # A second distribution declaring the entry point "snull" itself.
    s.add("netdrv-snull-clone", "0.1", {"snull": "netdrv_snullclone"},
          {"netdrv_snullclone": GOOD.replace("{name!r}", "'snull'")})  # fmt: skip
    s.add("netdrv-ghost", "1.0", {"ghost": "netdrv_ghost_not_there"}, {})
    s.add("netdrv-garbled", "1.0", {}, {}, raw_entry_points="[netdrv.drivers]\nthis is not = \n=x\nnoequals\n")  # fmt: skip
    return s


def _rows(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["name"] == name]


def test_listing_shows_every_plugin_marks_metadata_problems_and_imports_nothing(
    broken_site: Site,
) -> None:
    rows = broken_site.drivers()
    names = {r["name"] for r in rows}
    assert {"goodone", "brokenimport", "raisinghook", "hijacker", "ghost", "snull",
            "loopback"} <= names  # fmt: skip
    assert broken_site.imported() == []
    good = _rows(rows, "goodone")[0]
    assert good["distribution"] == "netdrv-goodone" and good["version"] == "1.0"
    assert good["summary"] == "goodone: a well-behaved test driver." and "error" not in good
    ghost = _rows(rows, "ghost")[0]
    assert "module 'netdrv_ghost_not_there' not found" in ghost["error"]
    snulls = _rows(rows, "snull")
    assert len(snulls) == 2
    real = next(r for r in snulls if r["distribution"] == "netdrv")
    clone = next(r for r in snulls if r["distribution"] == "netdrv-snull-clone")
    assert "error" not in real
    assert (
        "already taken by netdrv" in clone["error"] and "netdrv-snull-clone 0.1" in clone["error"]
    )
    # The human-readable table renders too, problems included.
    res = broken_site.netdrv("drivers")
    assert res.returncode == 0 and "netdrv-ghost" in res.stdout and "not found" in res.stdout


def test_verbose_listing_names_distribution_version_and_cause_of_each_broken_plugin(
    broken_site: Site,
) -> None:
    rows = broken_site.drivers("--verbose")
    err = {r["name"]: r.get("error", "") for r in rows if r["distribution"] != "netdrv-snull-clone"}
    assert "netdrv-brokenimport 2.3.4" in err["brokenimport"]
    assert "ModuleNotFoundError" in err["brokenimport"]
    assert "netdrv_robustness_missing_dependency" in err["brokenimport"]
    assert "netdrv-raisinghook 0.9" in err["raisinghook"]
    assert "raised in netdrv_drivers: RuntimeError: no hardware library found" in err["raisinghook"]
    assert "netdrv-hijacker 6.6.6" in err["hijacker"] and "'snull'" in err["hijacker"]
    assert "already provides" in err["hijacker"]
    assert err["goodone"] == "" and err["snull"] == "" and err["loopback"] == ""
    by_name = {r["name"]: r for r in rows if r["distribution"] != "netdrv-snull-clone"}
    assert by_name["goodone"]["parameters"] == ["speed=int Mbit/s (default 10): link speed"]
    assert any(p.startswith("lockup=int") for p in by_name["snull"]["parameters"])
    res = broken_site.netdrv("drivers", "--verbose")
    assert res.returncode == 0 and "RuntimeError:" in res.stdout and "broken:" in res.stdout


def test_loading_a_broken_plugin_fails_clearly_and_the_others_still_load(
    broken_site: Site,
) -> None:
    res = broken_site.netdrv("load", "brokenimport")
    assert res.returncode == 2
    msg = res.stderr
    assert "plugin 'brokenimport' (distribution netdrv-brokenimport 2.3.4) failed to load" in msg
    assert "No module named 'netdrv_robustness_missing_dependency'" in msg
    assert "Traceback" not in msg
    res = broken_site.netdrv("load", "raisinghook")
    assert res.returncode == 2 and "netdrv-raisinghook 0.9" in res.stderr
    res = broken_site.netdrv("load", "hijacker")
    assert res.returncode == 2 and "already provides" in res.stderr
    res = broken_site.netdrv("load", "ghost")
    assert res.returncode == 2 and "netdrv-ghost 1.0" in res.stderr
    # A good third-party plugin and the first-party ones load (parameters are checked
    # before privileges are: a bad one proves the driver itself was loaded).
    res = broken_site.netdrv("load", "goodone", "speed=fast")
    assert res.returncode == 2 and "bad value 'fast' for speed" in res.stderr
    res = broken_site.netdrv("load", "snull", "lockup=never")
    assert res.returncode == 2 and "bad value 'never' for lockup" in res.stderr
    assert broken_site.imported() == ["netdrv_brokenimport", "netdrv_goodone",
                                      "netdrv_hijacker", "netdrv_raisinghook"]  # fmt: skip


def test_in_process_the_first_party_driver_keeps_its_name(
    broken_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(broken_site.root))
    for k in [k for k in os.environ if k.startswith("NETDRV_")]:
        monkeypatch.delenv(k)
    pm = PluginManager()
    with pytest.raises(PluginError, match="already provides"):
        pm.get_driver("hijacker")  # before snull was ever loaded
    assert pm.get_driver("snull").__module__ == "netdrv_snull.driver"
    assert pm.get_driver("goodone").name == "goodone"
    with pytest.raises(PluginError, match=r"netdrv-raisinghook 0\.9"):
        pm.get_driver("raisinghook")
    assert pm.get_driver("loopback").name == "loopback"
    assert "netdrv_snullclone" not in sys.modules
    for mod in ("netdrv_goodone", "netdrv_hijacker", "netdrv_raisinghook"):
        monkeypatch.delitem(sys.modules, mod, raising=False)


def test_ambiguous_third_party_names_are_refused_not_guessed(tmp_path: Path) -> None:
    s = Site(tmp_path)
    s.add("netdrv-twin-a", "1.0", {"twin": "netdrv_twina"},
          {"netdrv_twina": GOOD.replace("{name!r}", "'twin'")})  # fmt: skip
    s.add("netdrv-twin-b", "2.0", {"twin": "netdrv_twinb"},
          {"netdrv_twinb": GOOD.replace("{name!r}", "'twin'")})  # fmt: skip
    rows = _rows(s.drivers(), "twin")
    assert len(rows) == 2
    for r in rows:
        assert "declared by 2 distributions" in r["error"]
        assert "netdrv-twin-a 1.0" in r["error"] and "netdrv-twin-b 2.0" in r["error"]
    res = s.netdrv("load", "twin")
    assert res.returncode == 2 and "declared by 2 distributions" in res.stderr
    assert s.imported() == []


def test_many_plugins_listing_imports_none_of_them(tmp_path: Path) -> None:
    s = Site(tmp_path)
    n = 50
    for i in range(n):
        mod = f"netdrv_many{i:02d}"
        marker = f"open({str(s.markers / mod)!r}, 'w').close()"
        src = textwrap.dedent(RAISE_ON_IMPORT).format(marker=marker, name=f"many{i:02d}", n=i)
        s.add(f"netdrv-many{i:02d}", f"1.{i}", {f"many{i:02d}": mod}, {mod: src})
    rows = s.drivers()
    many = {r["name"]: r for r in rows if r["name"].startswith("many")}
    assert len(many) == n
    assert (
        many["many07"]["summary"]
        == "many07: test plugin number 7, must never be imported by a listing."
    )
    assert many["many07"]["version"] == "1.7" and "error" not in many["many07"]
    # Global options before the command must not make the CLI load every plugin.
    rows = s.drivers("-p", "no:many03")
    assert next(r for r in rows if r["name"] == "many03")["disabled"] is True
    res = s.netdrv("load", "no_such_driver_here")
    assert res.returncode == 2 and "unknown driver 'no_such_driver_here'" in res.stderr
    assert s.imported() == []
    # Loading one imports that one only, and says what went wrong with it.
    res = s.netdrv("load", "many17")
    assert res.returncode == 2
    assert "netdrv-many17 1.17" in res.stderr and "RuntimeError: many17 was imported" in res.stderr
    assert s.imported() == ["netdrv_many17"]


def test_summaries_of_odd_modules_do_not_break_the_listing(tmp_path: Path) -> None:
    s = Site(tmp_path)
    pkg = s.root / "netdrv_pkgplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f"open({str(s.markers / 'netdrv_pkgplug')!r}, 'w').close()\n")
    (pkg / "plugin.py").write_text('"""pkgplug: lives in a submodule."""\nraise SystemExit(1)\n')
    (s.root / "netdrv_latin1.py").write_bytes(b'"""latin1: caf\xe9."""\n')
    (s.root / "netdrv_nul.py").write_bytes(b'"""nul"""\n\x00\x00')
    s.add("netdrv-pkgplug", "1.0", {"pkgplug": "netdrv_pkgplug.plugin"}, {})
    s.add("netdrv-attrplug", "1.0", {"attrplug": "netdrv_pkgplug.plugin:PLUGIN"}, {})
    s.add("netdrv-latin1", "1.0", {"latin1": "netdrv_latin1"}, {})
    s.add("netdrv-nul", "1.0", {"nul": "netdrv_nul"}, {})
    rows = {r["name"]: r for r in s.drivers()}
    assert rows["pkgplug"]["summary"] == "pkgplug: lives in a submodule."
    assert rows["attrplug"]["summary"] == "pkgplug: lives in a submodule."
    assert rows["latin1"]["summary"] == "" and rows["nul"]["summary"] == ""
    assert s.imported() == []


def test_p_module_offering_a_differently_named_driver() -> None:
    """``-p netdrv_snull`` offers ``snull``: the name need not be the module's."""
    pm = PluginManager(autoload=False, extra=["netdrv_snull"])
    assert pm.get_driver("snull").name == "snull"
    with pytest.raises(PluginError, match="unknown driver 'snul'"):
        PluginManager(autoload=False, extra=["netdrv_snull"]).get_driver("snul")
