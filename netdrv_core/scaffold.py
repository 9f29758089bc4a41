"""``netdrv new-driver NAME``: write a ready, pip-installable driver plugin project.

The project it writes::

    netdrv-NAME/
      pyproject.toml             entry point netdrv.drivers: NAME = "netdrv_NAME"
      README.md
      src/netdrv_NAME/__init__.py  the plugin: summary docstring + netdrv_drivers hook
      src/netdrv_NAME/driver.py    a working Ethernet driver (counts and frees, like dummy)
      tests/test_NAME_conformance.py  the driver conformance kit
      tests/test_NAME.py           a first unit test of your own, on the memory stack

The test files are named after the driver, so two projects' tests can run in one
pytest session (same-named test modules outside packages collide).

``pip install -e netdrv-NAME`` makes ``netdrv load NAME`` work and
``pytest netdrv-NAME/tests`` pass, unchanged.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata as md
import importlib.util
import keyword
import re
from pathlib import Path
from string import Template

from .errors import NetdrvError

__all__ = ["ScaffoldError", "create_driver_project", "validate_driver_name"]


class ScaffoldError(NetdrvError):
    """The project cannot be written (bad name, directory in the way or not writable)."""


# First-party packages a generated ``netdrv_NAME`` package would shadow on sys.path
# (``core`` would replace netdrv itself); installed ones are found with find_spec.
_FIRST_PARTY_PACKAGES = frozenset({"core", "snull", "loopback", "serial", "usbnet"})


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a driver name (None when it can)."""
    if not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name):
        return (
            f"it becomes the Python module netdrv_{name}, so it must be a Python identifier — "
            f"ASCII letters, digits and underscores, not starting with a digit, not a keyword"
        )
    if name.startswith("__") or not name.strip("_"):
        # Inside the generated class bodies "__x" names are mangled: NameError at init.
        return (
            "it must not start with '__' or be only underscores (Python mangles such "
            "names inside a class)"
        )
    pkg = f"netdrv_{name}"
    if name in _FIRST_PARTY_PACKAGES:
        return f"its package {pkg} would shadow netdrv's own {pkg}"
    try:
        spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        where = spec.origin or ", ".join(spec.submodule_search_locations or ()) or "?"
        return f"its package {pkg} would shadow the installed module {pkg} ({where})"
    taken = _installed_drivers().get(name)
    if taken is not None:
        return f"an installed driver is already called {name!r} (module {taken})"
    return _generated_problem(name)


def _installed_drivers() -> dict[str, str]:
    """Installed ``netdrv.drivers`` entry points: name -> module (a clash makes one ignored)."""
    return {ep.name: ep.value for ep in md.entry_points(group="netdrv.drivers")}


def _suggest(name: str) -> str:
    """A valid driver name close to ``name`` (for the error's hint)."""
    fixed = re.sub(r"\W", "_", name.encode("ascii", "ignore").decode()).lstrip("_")
    if fixed[:1].isdigit():
        fixed = f"drv_{fixed}"
    if not fixed:
        return "my_drv"
    for candidate in (fixed, f"{fixed}_drv", f"my_{fixed}_drv"):
        if _name_problem(candidate) is None:
            return candidate
    return "my_drv"


def validate_driver_name(name: str) -> str:
    """Return ``name`` if it can be a driver, entry-point and module name; else raise ScaffoldError."""
    problem = _name_problem(name)
    if problem is not None:
        raise ScaffoldError(f"invalid driver name {name!r}: {problem} (e.g. {_suggest(name)})")
    return name


def _camel(name: str) -> str:
    cls = "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "My"
    return f"Drv{cls}" if cls[0].isdigit() else cls  # "_9x": a class name cannot start so


_PYPROJECT = Template("""\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "netdrv-$name"
version = "0.1.0"
description = "$summary"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["netdrv>=$netdrv_min"]

# How netdrv finds the driver: the entry-point name is the driver name
# (`netdrv load $name`), the value the plugin module.
[project.entry-points."netdrv.drivers"]
$name = "netdrv_$name"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-ra"
""")

_INIT = Template('''\
"""$name: $summary.

The first line of this docstring is the summary `netdrv drivers` shows.  It is
read without importing this module, and loading another driver never imports
it: keep imports of heavy dependencies inside driver.py.
"""

from __future__ import annotations

from netdrv_core import hookimpl


@hookimpl
def netdrv_drivers() -> list[type]:
    """Offer the $name driver."""
    from .driver import ${cls}Driver

    return [${cls}Driver]
''')

_DRIVER = Template('''\
"""The $name driver: an Ethernet device that counts and frees what it is sent.

Like Linux ``drivers/net/dummy.c``: every frame the stack transmits is counted
in ``tx_packets``/``tx_bytes`` and freed.  Start from here — replace
``start_xmit`` with what your hardware does, and call ``netif_rx`` for what it
receives.  The contract the conformance kit checks: every skb handed to
``start_xmit`` ends exactly once (transmitted, dropped or errored) and is
counted; stop the queue when you cannot take more and wake it when you can.
"""

from __future__ import annotations

import errno
from typing import ClassVar

from netdrv_core import (
    NETDEV_TX_OK,
    Driver,
    NetDevice,
    NetDeviceOps,
    Param,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    eth_hw_addr_random,
    ether_setup,
    netif_carrier_off,
    netif_start_queue,
    netif_stop_queue,
)

MAX_MTU = 9000


class ${cls}Ops(NetDeviceOps):
    """The device operations (``net_device_ops``)."""

    def open(self, dev: NetDevice) -> int:
        """``ip link set DEV up``: allocate resources, start the queue."""
        netif_start_queue(dev)
        return 0

    def stop(self, dev: NetDevice) -> int:
        """``ip link set DEV down``: stop the queue, release what open took."""
        netif_stop_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Transmit ``skb``: on NETDEV_TX_OK we own it, so count it and free it."""
        dev.stats.tx_packets += 1
        dev.stats.tx_bytes += skb.len
        dev_kfree_skb(skb)
        return NETDEV_TX_OK

    def change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        """Accept any MTU in min_mtu..max_mtu (the core checks the limits first)."""
        if not dev.min_mtu <= new_mtu <= dev.max_mtu:
            return -errno.EINVAL
        dev.mtu = new_mtu
        return 0


def ${name}_netdev_setup(dev: NetDevice) -> None:
    """Ethernet defaults, a random locally administered MAC, jumbo frames, our ops."""
    ether_setup(dev)
    eth_hw_addr_random(dev)  # no hardware: a random address, no permanent one
    dev.max_mtu = MAX_MTU
    dev.netdev_ops = ${cls}Ops()


class ${cls}Driver(Driver):
    """$summary."""

    name = "$name"
    # What `netdrv load` and `netdrv status` print; `netdrv drivers` shows the first
    # line of the docstring of __init__.py instead (read without importing this module).
    summary = "$summary"
    version = "0.1.0"  # ethtool -i; `netdrv drivers` shows pyproject.toml's version
    parameters = (
        Param("count", int, 1, "number of interfaces to create", min=1, max=16),
        Param("ifname", str, "$ifname", "interface name (%d: first free number)"),
        Param("carrier", bool, True, "start with the carrier on (link detected)"),
    )
    # Values the driver conformance kit loads the driver with (pytest).
    conformance_params: ClassVar[dict[str, str]] = {"count": "2"}

    def init(self) -> None:
        """Allocate and register the interfaces (``module_init``)."""
        setup = ${name}_netdev_setup
        for _ in range(self.params["count"]):
            dev = alloc_netdev(None, self.params["ifname"], setup)
            if not self.params["carrier"]:
                netif_carrier_off(dev)
            self.register(dev)
''')

_TEST_CONFORMANCE = Template('''\
"""The netdrv driver conformance kit, run against the $name driver.

Every check of the kit (registration, open/stop, every skb accounted for,
queue stop/wake, watchdog, carrier, MTU, statistics, parameters, clean unload)
becomes a test here.  The driver is loaded by name from the installed plugins:
`pip install -e .` first.
"""

from typing import ClassVar

from netdrv_core.testing.conformance import DriverConformance


class TestConformance(DriverConformance):
    driver_name = "$name"


class TestConformanceOneInterface(DriverConformance):
    driver_name = "$name"
    # Not carrier=0: a device without carrier transmits nothing (as in Linux), and the
    # kit needs traffic.  Parameters as on `netdrv load $name count=1`.
    driver_params: ClassVar[dict[str, str]] = {"count": "1"}
''')

_TEST_DRIVER = Template('''\
"""Unit tests of the $name driver on netdrv's in-process memory stack."""

from netdrv_core.testing.conformance import ethernet_frame, ipv4_udp


def test_frames_are_counted_and_freed(netdrv_load, netdrv_host):
    drv = netdrv_load("$name", count=1)
    (dev,) = drv.devices
    stack = netdrv_host.attachment
    stack.up(dev)
    packet = ipv4_udp(bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]), 100)
    for _ in range(3):
        stack.send(dev, ethernet_frame(b"\\xff" * 6, dev.dev_addr, 0x0800, packet))
    netdrv_host.loop.run_until_idle()
    assert dev.stats.tx_packets == 3
    assert dev.stats.tx_bytes == 3 * (14 + 100)
    assert dev.core_stats.tx_submitted == 3


def test_interface_names_follow_the_parameter(netdrv_load):
    drv = netdrv_load("$name", count=2, ifname="tst%d")
    assert [d.name for d in drv.devices] == ["tst0", "tst1"]
''')

_README = Template("""\
# netdrv-$name

$summary — a [netdrv](https://pypi.org/project/netdrv/) driver plugin.

## Use it

netdrv comes first, in the same environment (from a checkout of netdrv: `pip
install -e /path/to/netdrv`): this project depends on it, and pip looks for a
dependency it does not find installed on the package index ("No matching
distribution found for netdrv").

Loading creates kernel interfaces (root, or `CAP_NET_ADMIN`). To keep them off
your real network, try it in a scratch namespace first:
`sudo ip netns add try && sudo ip netns exec try bash` (one netdrv daemon per
namespace; `ip netns del try` afterwards).

```sh
$use_block
```

`sudo` runs root's `PATH`, not your virtualenv's: there, use
`sudo "$$(command -v netdrv)" …` or a root shell that activated the virtualenv.
In a virtualenv made with `--system-site-packages` that reuses a netdrv
installed outside it, the `netdrv` on `PATH` is the outer Python's and does not
see this plugin (`netdrv drivers` does not list $name): run the same commands as
`python -m netdrv_core.cli …`, or install netdrv into the virtualenv too.
After changing `pyproject.toml` (entry points), `pip install -e .` again; a
netdrv daemon that was already running picks up a newly installed plugin on
the next `netdrv load`.

Parameters: `count` (number of interfaces), `ifname` (name pattern, `%d` picks
the lowest free number), `carrier` (start with the link detected).

## Test it

```sh
python -m pytest                # unit tests and the conformance kit (tests/test_${name}_conformance.py)
```

`--netdrv-conformance=$name` adds the kit for any installed driver without a
test file; here it runs besides `tests/` (add `-k TestDriverConformance` for the
kit alone). A failing check says what the driver did wrong and what to do.

`tests/test_${name}_conformance.py` subclasses `netdrv_core.testing.conformance.DriverConformance`:
every check of netdrv's driver contract runs on the in-process memory stack, no
root needed.

## Write it

* `src/netdrv_$name/__init__.py` — the plugin: its docstring's first line is
  the summary `netdrv drivers` shows; `netdrv_drivers()` returns the driver class.
* `src/netdrv_$name/driver.py` — the driver: `init()` allocates and registers the
  devices; the `${cls}Ops` methods are the `net_device_ops`.
* `tests/test_$name.py` — your unit tests. netdrv's pytest plugin gives every
  project its fixtures: `netdrv_load("$name", count=1)` loads the driver on
  `netdrv_host`, whose devices live in an in-process stack
  (`netdrv_host.attachment`: `up`, `send`, `received`), and `netdrv_clock`
  makes timers due at once.
* `tests/test_${name}_conformance.py` — loads the driver with `count=1`: rename or
  remove a parameter and change it there too (the kit names the parameters the
  driver has).

The editable install runs your changes to the `.py` files at the next `pytest`
or `netdrv load`; reinstall only after changing `pyproject.toml`.

netdrv's documentation goes on from here: its tutorial (`docs/tutorial.md` in
netdrv's source, "Tutorial: your first driver" on the site) turns this project
into a pair of devices joined by a virtual cable, with NAPI reception, ethtool
ops, a `debug` parameter and tests of its own; the driver model page
(`docs/driver-model.md`) is the reference for every call.
""")

_GITIGNORE = "build/\ndist/\n*.egg-info/\n__pycache__/\n.pytest_cache/\n"


def _generated_problem(name: str) -> str | None:
    """Why the modules generated for ``name`` would not work as written (None when they do).

    A generated identifier equal to an imported one shadows it (``def ether_setup``
    calling itself instead of netdrv's), and a ``__x`` name used in a class body is
    mangled; both break only at run time, so every generated module is checked.
    """
    subst = _substitutions(name, "summary")
    for rel, tmpl in _files(name).items():
        if rel.suffix != ".py":
            continue
        try:
            tree = ast.parse(tmpl.substitute(subst), str(rel))
        except SyntaxError as exc:
            return f"the generated {rel.as_posix()} would not compile ({exc.msg})"
        bound: set[str] = set()
        for node in tree.body:
            names: list[str] = []
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [(a.asname or a.name).split(".")[0] for a in node.names]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            for n in names:
                if n in bound:
                    return (
                        f"the generated {rel.as_posix()} would define {n}, shadowing the {n} "
                        f"it imports"
                    )
                bound.add(n)
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for ident in (n.id for n in ast.walk(cls) if isinstance(n, ast.Name)):
                if ident.startswith("__") and not ident.endswith("__"):
                    return (
                        f"{ident} in the generated {rel.as_posix()} would be name-mangled "
                        f"inside class {cls.name}"
                    )
    return None


def _use_block(name: str, ifprefix: str) -> str:
    """The README's "Use it" commands, their comments in one column whatever the name."""
    rows = [
        ("pip install -e .", "registers the driver (entry point netdrv.drivers)"),
        ("netdrv drivers", f"{name} is listed"),
        (f"sudo netdrv load {name} count=2",
         f"creates {ifprefix}0 and {ifprefix}1 as kernel interfaces"),
        (f"sudo ip addr add 198.18.0.1/24 dev {ifprefix}0", ""),
        (f"sudo ip link set {ifprefix}0 up", "calls the driver's open()"),
        ("ping -c 3 -W 1 198.18.0.2", "no replies: start_xmit frees every frame it is sent..."),
        ("sudo netdrv status", f"...and counts it: tx pkts and tx bytes of {ifprefix}0"),
        (f"sudo netdrv unload {name}", "the interfaces disappear"),
    ]  # fmt: skip
    width = max(len(cmd) for cmd, _ in rows) + 2
    return "\n".join(f"{cmd.ljust(width)}# {note}" if note else cmd for cmd, note in rows)


def _substitutions(name: str, summary: str) -> dict[str, str]:
    ifprefix = name[:11]
    return {
        "use_block": _use_block(name, ifprefix),
        "name": name,
        "cls": _camel(name),
        "summary": summary,
        "ifname": f"{ifprefix}%d",
        "ifprefix": ifprefix,
        "netdrv_min": "0.1",
    }


def _files(name: str) -> dict[Path, Template]:
    pkg = Path("src") / f"netdrv_{name}"
    return {
        Path("pyproject.toml"): _PYPROJECT,
        Path("README.md"): _README,
        pkg / "__init__.py": _INIT,
        pkg / "driver.py": _DRIVER,
        Path("tests") / f"test_{name}_conformance.py": _TEST_CONFORMANCE,
        Path("tests") / f"test_{name}.py": _TEST_DRIVER,
    }


def create_driver_project(
    name: str,
    directory: str | Path | None = None,
    *,
    summary: str | None = None,
) -> list[Path]:
    """Write the project for driver ``name`` into ``directory`` (default ``./netdrv-NAME``).

    Returns the files written.  Raises :class:`ScaffoldError` for an invalid
    name, when ``directory`` exists and is not empty (nothing is overwritten), or
    when a file cannot be written (what was written is removed again).
    """
    validate_driver_name(name)
    target = Path(directory) if directory is not None else Path(f"netdrv-{name}")
    if target.exists():
        if not target.is_dir():
            raise ScaffoldError(f"{target} exists and is not a directory")
        if any(target.iterdir()):
            raise ScaffoldError(
                f"{target} already exists and is not empty: choose another --directory "
                f"(nothing was written)"
            )
    summary = summary or "a minimal Ethernet driver that counts and frees every frame"
    summary = summary.replace('"', "'").replace("\\", "/").strip().rstrip(".")
    subst = _substitutions(name, summary)
    texts = {rel: tmpl.substitute(subst) for rel, tmpl in _files(name).items()}
    texts[Path(".gitignore")] = _GITIGNORE
    return _write_project(target, texts)


def _write_project(target: Path, texts: dict[Path, str]) -> list[Path]:
    """Write ``texts`` under ``target``: all of them, or (on an OSError) none.

    A half-written project would make the next ``netdrv new-driver`` refuse the
    directory as not empty, so what was created is removed again before the
    error is raised — only that: each file is created exclusively, so one that
    another process put there since the directory was found empty is neither
    replaced nor removed (the error names it).
    """
    written: list[Path] = []
    made: list[Path] = []  # directories this call created, parents first
    try:
        for rel, text in texts.items():
            path = target / rel
            missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
            for d in reversed(missing):
                d.mkdir()
                made.append(d)
            path.touch(exist_ok=False)  # O_EXCL: never a file someone else made meanwhile
            written.append(path)  # ours now: removed again even if the write stops halfway
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        raise ScaffoldError(
            f"cannot write the project into {target}: {reason}{where}; nothing was written: "
            f"fix that, or choose another --directory"
        ) from exc
    return written
