"""Plugin mistakes a driver author makes, and a plugin installed while netdrv already runs.

Found by following the docs as a third-party author: ``pip install -e .`` of a
new plugin while the namespace's daemon ran made ``netdrv load`` fail in the
daemon with ``No module named 'netdrv_NAME'`` (the daemon never read the new
``.pth``); a misspelled hook was reported without its distribution or the
right name; an entry-point name that differs from ``Driver.name`` was reported
with every driver of every plugin loaded so far as "it offers".
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from netdrv_core import Driver, PluginError, PluginManager, hookimpl
from netdrv_core import plugins as plugins_mod

PLUGIN = '''
"""{name}: installed after netdrv started."""
from netdrv_core import Driver, alloc_netdev, ether_setup, hookimpl


class LateDriver(Driver):
    name = {driver!r}
    summary = "installed late"

    def init(self):
        dev = alloc_netdev(None, "late%d", ether_setup)
        dev.dev_addr = b"\\x02\\x00\\x00\\x00\\x00\\x21"
        self.register(dev)


@hookimpl
def netdrv_drivers():
    return [LateDriver]
'''


def _install_editable(
    site: Path, src: Path, name: str, *, driver: str | None = None, pth: str | None = None
) -> Path:
    """Write what ``pip install -e`` leaves: the package under ``src``, a ``.pth`` naming
    it in ``site``, and a dist-info whose RECORD lists the ``.pth``."""
    pkg = src / f"netdrv_{name}"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(PLUGIN).format(name=name, driver=driver or name)
    )
    pth_file = site / f"__editable__.netdrv_{name}-1.0.pth"
    pth_file.write_text(pth if pth is not None else f"{src}\n")
    info = site / f"netdrv_{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: netdrv-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[netdrv.drivers]\n{name} = netdrv_{name}\n")
    (info / "RECORD").write_text(
        f"{pth_file.name},,\n{info.name}/METADATA,,\n{info.name}/entry_points.txt,,\n"
        f"{info.name}/RECORD,,\n"
    )
    return pth_file


@pytest.fixture
def late_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A site directory on sys.path whose .pth files Python has not processed (as after
    start-up), and a source tree outside sys.path."""
    site, src = tmp_path / "site", tmp_path / "src"
    site.mkdir()
    src.mkdir()
    monkeypatch.syspath_prepend(str(site))  # processes no .pth, like a later install
    monkeypatch.setattr(sys, "path", list(sys.path))  # whatever the plugin adds is undone
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(plugins_mod, "_PTH_DONE", set())
    monkeypatch.delenv("NETDRV_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    yield site, src
    for mod in [m for m in sys.modules if m.startswith("netdrv_late")]:
        del sys.modules[mod]


def test_a_plugin_installed_after_start_up_loads(late_site: tuple[Path, Path]) -> None:
    site, src = late_site
    _install_editable(site, src, "late_a")
    assert str(src) not in sys.path  # as in a daemon that started before the install
    cls = PluginManager().get_driver("late_a")
    assert issubclass(cls, Driver) and cls.name == "late_a"
    assert str(src) in sys.path


def test_a_finder_style_pth_is_run_once(late_site: tuple[Path, Path]) -> None:
    """Newer setuptools write an ``import`` line that installs a finder: it runs, once."""
    site, src = late_site
    hook = site / "late_b_hook.py"
    hook.write_text(
        "import sys\nCALLS = []\n"
        f"def install():\n    CALLS.append(1)\n    sys.path.append({str(src)!r})\n"
    )
    _install_editable(site, src, "late_b", pth="import late_b_hook; late_b_hook.install()\n")
    pm = PluginManager()
    assert pm.get_driver("late_b").name == "late_b"
    import late_b_hook  # type: ignore[import-not-found]

    assert late_b_hook.CALLS == [1]
    ep = next(ep for ep in pm._entry_points() if ep.name == "late_b")
    assert plugins_mod._activate_late_install(ep) is False  # done once: not run again
    assert late_b_hook.CALLS == [1]
    del sys.modules["late_b_hook"]


def test_a_pth_older_than_the_process_is_not_reprocessed(late_site: tuple[Path, Path]) -> None:
    """An install Python already processed at start-up and that still fails is reported,
    with what to do — not papered over by running its .pth again."""
    site, src = late_site
    pth = _install_editable(site, src, "late_c")
    old = time.time() - 3600
    os.utime(pth, (old, old))
    with pytest.raises(PluginError) as err:
        PluginManager().get_driver("late_c")
    msg = str(err.value)
    assert "No module named 'netdrv_late_c'" in msg
    assert "reinstall it (pip install -e DIR) for this Python" in msg
    assert "`netdrv stop` first" in msg
    assert str(src) not in sys.path


def test_a_missing_dependency_gets_no_reinstall_hint(late_site: tuple[Path, Path]) -> None:
    site, src = late_site
    _install_editable(site, src, "late_d")
    init = src / "netdrv_late_d" / "__init__.py"
    init.write_text('"""late_d."""\nimport netdrv_author_missing_dependency\n')
    with pytest.raises(PluginError) as err:
        PluginManager().get_driver("late_d")
    assert "No module named 'netdrv_author_missing_dependency'" in str(err.value)
    assert "reinstall" not in str(err.value)


# -- mistakes in the plugin module ------------------------------------------------------------
class _Named(Driver):
    name = "othername"
    summary = "s"


class _Nameless(Driver):
    summary = "s"


class WrongName:
    @staticmethod
    @hookimpl
    def netdrv_drivers() -> list[type[Driver]]:
        return [_Named]


class _Unrelated(Driver):
    name = "unrelated"
    summary = "s"


class Unrelated:
    @staticmethod
    @hookimpl
    def netdrv_drivers() -> list[type[Driver]]:
        return [_Unrelated]


class Misspelled:
    @staticmethod
    @hookimpl
    def netdrv_driver() -> list[type[Driver]]:
        return [_Named]


class Nameless:
    @staticmethod
    @hookimpl
    def netdrv_drivers() -> list[type[Driver]]:
        return [_Nameless]


class Instances:
    @staticmethod
    @hookimpl
    def netdrv_drivers() -> list[object]:
        return [object()]


class ReturnsNone:
    @staticmethod
    @hookimpl
    def netdrv_drivers() -> None:
        return None  # forgot the return


def test_entry_point_name_and_driver_name_differ() -> None:
    pm = PluginManager(autoload=False)
    pm.register(Unrelated(), name="unrelated")  # loaded before: not what wrongname offers
    pm.register(WrongName(), name="wrongname")
    with pytest.raises(PluginError) as err:
        pm.get_driver("wrongname")
    msg = str(err.value)
    assert "(it offers: othername)" in msg
    assert "make Driver.name 'wrongname', or rename the entry point to 'othername'" in msg


def test_a_hook_returning_nothing_says_what_to_return() -> None:
    pm = PluginManager(autoload=False)
    pm.register(ReturnsNone(), name="nothing")
    with pytest.raises(PluginError, match=r"it offers: nothing\): its netdrv_drivers hook "
                                          r"returned no driver: return \[YourDriver\]"):  # fmt: skip
        pm.get_driver("nothing")


def test_a_misspelled_hook_is_named_with_the_right_one() -> None:
    pm = PluginManager(autoload=False)
    with pytest.raises(PluginError) as err:
        pm.register(Misspelled(), name="misspelled")
    msg = str(err.value)
    assert "plugin 'misspelled' (no distribution) implements unknown hooks" in msg
    assert "'netdrv_driver' (did you mean netdrv_drivers?)" in msg
    assert pm.errors["misspelled"] is err.value
    assert pm.pm.get_plugin("misspelled") is None


def test_a_nameless_driver_class_is_told_to_set_its_name() -> None:
    pm = PluginManager(autoload=False)
    with pytest.raises(PluginError, match=r"a netdrv_core.Driver subclass without a name: set "
                                          r"name = 'nameless'"):  # fmt: skip
        pm.register(Nameless(), name="nameless")


def test_an_object_instead_of_a_class_is_refused_clearly() -> None:
    pm = PluginManager(autoload=False)
    with pytest.raises(PluginError, match=r"not a netdrv_core.Driver subclass with a name "
                                          r"\(not a class\): return the classes themselves"):  # fmt: skip
        pm.register(Instances(), name="instances")


# -- rmmod: a plugin forgotten is imported afresh ---------------------------------------------
def test_a_forgotten_plugin_is_imported_again_from_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """unload + load in a daemon kept alive by another driver runs the edited driver."""
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = tmp_path / "netdrv_authreload"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        '"""authreload."""\nfrom netdrv_core import hookimpl\n\n\n@hookimpl\n'
        "def netdrv_drivers():\n    from .driver import D\n\n    return [D]\n"
    )
    src = pkg / "driver.py"
    src.write_text(
        "from netdrv_core import Driver\n\n\nclass D(Driver):\n"
        '    name = "authreload"\n    summary = "version 1"\n'
    )
    pm = PluginManager(autoload=False, extra=["netdrv_authreload"])
    pm.register(type("Keep", (), {})(), name="keepalive")  # another plugin stays loaded
    try:
        assert pm.get_driver("authreload").summary == "version 1"
        src.write_text(src.read_text().replace("version 1", "version 2"))
        old = time.time() - 10  # an edit within the same second must not hide behind .pyc
        os.utime(src, (old, old))
        assert pm.get_driver("authreload").summary == "version 1"  # loaded: the old code
        gone = pm.forget_plugin("authreload")
        assert gone == ["netdrv_authreload", "netdrv_authreload.driver"]
        assert "authreload" not in pm._drivers and pm.pm.get_plugin("authreload") is None
        assert pm.get_driver("authreload").summary == "version 2"
        assert pm.pm.get_plugin("keepalive") is not None
    finally:
        for mod in [m for m in sys.modules if m.startswith("netdrv_authreload")]:
            del sys.modules[mod]


def test_forgetting_keeps_netdrv_and_shared_modules() -> None:
    pm = PluginManager(autoload=False)
    assert pm.forget_plugin("never_loaded") == []
    import netdrv_core.hookspecs as core_module

    pm.register(core_module, name="core_as_plugin")
    assert pm.forget_plugin("core_as_plugin") == []
    assert "netdrv_core.hookspecs" in sys.modules


def test_the_daemon_runs_the_edited_driver_after_unload_and_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rmmod + insmod: with another driver keeping the daemon alive, unload then load imports
    the plugin afresh; a plugin with a driver still loaded is kept."""
    from netdrv_core import Host
    from netdrv_core.daemon import Daemon

    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = tmp_path / "netdrv_authedit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        '"""authedit."""\nfrom netdrv_core import hookimpl\n\n\n@hookimpl\n'
        "def netdrv_drivers():\n    from .driver import A, B\n\n    return [A, B]\n"
    )
    src = pkg / "driver.py"

    def write(version: int) -> None:
        src.write_text(
            "from netdrv_core import Driver\n\n\n"
            f'class A(Driver):\n    name = "authedit"\n    summary = "version {version}"\n\n'
            "    def init(self):\n        pass\n\n\n"
            f'class B(A):\n    name = "authedit_b"\n'
        )
        old = time.time() - 10 + version  # an edit within the same second: not hidden by .pyc
        os.utime(src, (old, old))

    write(1)
    host = Host()
    pm = PluginManager(autoload=False, extra=["netdrv_authedit"])
    daemon = Daemon(host=host, pm=pm, watchdog=None, exit_when_empty=False, forget_unloaded=True)
    try:
        daemon.load("authedit", [])
        daemon.load("authedit_b", [])
        write(2)
        daemon.unload("authedit")  # authedit_b, of the same plugin, is still loaded: kept
        daemon.load("authedit", [])
        assert daemon.drivers["authedit"].summary == "version 1"
        daemon.unload("authedit")
        daemon.unload("authedit_b")  # the plugin's last driver: forgotten
        assert "netdrv_authedit.driver" not in sys.modules
        daemon.load("authedit", [])
        assert daemon.drivers["authedit"].summary == "version 2", "the old code ran again"
    finally:
        host.close()
        host.loop.close()
        for mod in [m for m in sys.modules if m.startswith("netdrv_authedit")]:
            del sys.modules[mod]


def test_a_fix_after_a_failed_load_is_what_the_next_load_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The most common edit follows an init that raised: the daemon, kept alive by another
    driver, must not run the broken code again."""
    from netdrv_core import Host
    from netdrv_core.daemon import Daemon

    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = tmp_path / "netdrv_authfix"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        '"""authfix."""\nfrom netdrv_core import hookimpl\n\n\n@hookimpl\n'
        "def netdrv_drivers():\n    from .driver import F\n\n    return [F]\n"
    )
    src = pkg / "driver.py"

    def write(body: str, version: int) -> None:
        src.write_text(
            "from netdrv_core import Driver\n\n\n"
            f'class F(Driver):\n    name = "authfix"\n\n    def init(self):\n        {body}\n'
        )
        old = time.time() - 10 + version
        os.utime(src, (old, old))

    write('raise RuntimeError("bug v1")', 1)
    host = Host()
    pm = PluginManager(autoload=False, extra=["netdrv_authfix", "netdrv_loopback"])
    daemon = Daemon(host=host, pm=pm, watchdog=None, exit_when_empty=False, forget_unloaded=True)
    try:
        daemon.load("loopback", [])  # keeps the daemon alive
        with pytest.raises(PluginError, match="bug v1"):
            daemon.load("authfix", [])
        write("pass", 2)
        daemon.load("authfix", [])  # the fixed code
        assert "authfix" in daemon.drivers
    finally:
        daemon.shutdown()
        host.close()
        host.loop.close()
        for mod in [m for m in sys.modules if m.startswith("netdrv_authfix")]:
            del sys.modules[mod]


def test_a_check_params_without_classmethod_is_refused_at_registration() -> None:
    class NoClassmethod(Driver):
        name = "authcp"

        def check_params(self, params):  # type: ignore[override]  # forgot @classmethod
            pass

    class CpPlugin:
        @hookimpl
        def netdrv_drivers(self) -> list[type[Driver]]:
            return [NoClassmethod]

    pm = PluginManager(autoload=False)
    with pytest.raises(PluginError, match=r"NoClassmethod.check_params .* decorate it with "
                                          r"@classmethod"):  # fmt: skip
        pm.register(CpPlugin(), name="authcp")


def test_a_late_timer_of_the_forgotten_module_does_not_take_the_new_driver_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old code's timer fires after the plugin was imported afresh: same module name,
    but not the code of the driver loaded now."""
    from netdrv_core import Host
    from netdrv_core.daemon import Daemon

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "netdrv_authlate.py").write_text(
        "from netdrv_core import Driver, NetDeviceOps, alloc_netdev, ether_setup, hookimpl\n\n\n"
        "def _late():\n    raise RuntimeError('late timer of the old module')\n\n\n"
        "class Ops(NetDeviceOps):\n    def start_xmit(self, skb, dev):\n        return 0\n\n\n"
        "class L(Driver):\n    name = 'authlate'\n\n    def init(self):\n"
        "        dev = alloc_netdev(None, 'al%d', ether_setup)\n        dev.netdev_ops = Ops()\n"
        "        self.register(dev)\n\n    def exit(self):\n"
        "        self.host.loop.call_later(0, _late)  # forgot to cancel it\n"
        "        super().exit()\n\n\n@hookimpl\ndef netdrv_drivers():\n    return [L]\n"
    )
    host = Host()
    pm = PluginManager(autoload=False, extra=["netdrv_authlate", "netdrv_loopback"])
    daemon = Daemon(host=host, pm=pm, watchdog=None, exit_when_empty=False, forget_unloaded=True)
    try:
        daemon.load("loopback", [])
        daemon.load("authlate", [])
        daemon.unload("authlate")  # forgotten; its timer is still queued
        reply = daemon.load("authlate", [])  # imported afresh
        dev = host.devices[reply["devices"][0]]
        assert host.dev_open(dev) == 0
        host.loop.run_until_idle()  # the old module's timer raises
        assert dev.is_up and daemon.drivers["authlate"].faults == 0
    finally:
        daemon.shutdown()
        host.close()
        host.loop.close()
        sys.modules.pop("netdrv_authlate", None)


def test_a_plugin_another_module_builds_on_is_not_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party driver that imports a plugin's codecs keeps them: forgetting the plugin
    would make the next load create a second copy of its classes."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "netdrv_authbase.py").write_text(
        "from netdrv_core import Driver, hookimpl\n\n\nclass Codec:\n    pass\n\n\n"
        "class B(Driver):\n    name = 'authbase'\n\n\n"
        "@hookimpl\ndef netdrv_drivers():\n    return [B]\n"
    )
    (tmp_path / "authbase_user.py").write_text("from netdrv_authbase import Codec\n")
    pm = PluginManager(autoload=False, extra=["netdrv_authbase"])
    try:
        pm.get_driver("authbase")
        import authbase_user  # noqa: F401  (a module outside the plugin, built on it)

        assert pm.forget_plugin("authbase") == []
        assert "netdrv_authbase" in sys.modules
        del sys.modules["authbase_user"]
        pm.get_driver("authbase")
        assert pm.forget_plugin("authbase") == ["netdrv_authbase"]
    finally:
        for mod in ("netdrv_authbase", "authbase_user"):
            sys.modules.pop(mod, None)


def test_listings_read_the_metadata_once_until_a_distribution_is_installed(
    late_site: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One command lists the drivers several times: the distributions are read once, and
    again as soon as one is installed (its dist-info changes its directory's time)."""
    site, src = late_site
    # The install below must change the site directory's time even within one tick of the
    # file system's clock: its time goes back a minute first.
    past = time.time() - 60
    os.utime(site, (past, past))
    monkeypatch.setattr(plugins_mod, "_MTIME_SLACK_NS", 0)
    reads: list[int] = []
    real = plugins_mod.md.distributions

    def counted() -> Any:
        reads.append(1)
        return real()

    monkeypatch.setattr(plugins_mod.md, "distributions", counted)
    monkeypatch.setattr(plugins_mod, "_scan_cache", None)
    names = {d.name for d in PluginManager().list_drivers()}
    assert "late_c" not in names and {d.name for d in PluginManager().list_drivers()} == names
    assert len(reads) == 1
    _install_editable(site, src, "late_c")  # pip install -e, while a daemon runs
    assert "late_c" in {d.name for d in PluginManager().list_drivers()}
    assert len(reads) == 2


def _dist_info(site: Path, dirname: str, name: str, version: str, eps: str) -> None:
    info = site / dirname
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(eps)


def test_listing_takes_the_first_distribution_of_a_name_and_reports_unreadable_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan tells distributions apart by name without parsing every METADATA: the first
    of a name on sys.path counts (as importlib.metadata.entry_points), and one offering
    drivers whose metadata cannot be read is reported, not listed."""
    first, second = tmp_path / "first", tmp_path / "second"
    _dist_info(first, "netdrv_dupname-1.0.dist-info", "netdrv-dupname", "1.0",
               "[netdrv.drivers]\ndupone = netdrv_dupone\n")  # fmt: skip
    _dist_info(second, "netdrv.dupname-2.0.dist-info", "netdrv.DupName", "2.0",
               "[netdrv.drivers]\nduptwo = netdrv_duptwo\n")  # fmt: skip
    _dist_info(second, "netdrv_badmeta-1.0.dist-info", "x", "1.0",
               "[netdrv.drivers]\nbadmeta = netdrv_badmeta\n")  # fmt: skip
    (second / "netdrv_badmeta-1.0.dist-info" / "METADATA").write_bytes(b"Name: \xff\xfe\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    monkeypatch.setattr(plugins_mod, "_scan_cache", None)
    pm = PluginManager()
    drivers = {d.name: d for d in pm.list_drivers()}
    assert "dupone" in drivers and "duptwo" not in drivers and "badmeta" not in drivers
    assert (drivers["dupone"].distribution, drivers["dupone"].version) == ("netdrv-dupname", "1.0")
    assert any("netdrv_badmeta-1.0.dist-info" in e for e in pm.metadata_errors)
