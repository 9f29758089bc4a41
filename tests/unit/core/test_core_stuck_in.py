"""What the soft-lockup report names: the driver's frame, and a library it is stuck in."""

from __future__ import annotations

import sys
import sysconfig
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from netdrv_core.lockup import stuck_in


def _module(name: str, source: str, root: str = "/srv", **env: object) -> types.ModuleType:
    """A module named ``name`` (its frames carry that ``__name__``), as if from a file under ``root``."""
    mod = types.ModuleType(name)
    mod.__dict__.update(env)
    exec(compile(source, f"{root}/{name.replace('.', '/')}.py", "exec"), mod.__dict__)
    return mod


@contextmanager
def _stuck(until: str, target: Callable[..., None], *args: object) -> Iterator[str]:
    """Run ``target(*args, release)`` in a thread; yield what ``stuck_in`` names once it blocks.

    ``until`` is a piece of the expected answer: the thread is sampled until its
    stack reaches the blocking call (the test then checks the whole answer).
    """
    release = threading.Event()
    t = threading.Thread(target=target, args=(*args, release), daemon=True)
    t.start()
    try:
        where = ""
        for _ in range(500):
            where = stuck_in(sys._current_frames().get(t.ident))  # type: ignore[arg-type]
            if until in where:
                break
            time.sleep(0.01)
        yield where
    finally:
        release.set()
        t.join(5)


LIB = _module("somelib.net", "def block(ev):\n    ev.wait(10)\n")
DRIVER = _module(
    "netdrv_fake.driver",
    "def start_xmit(ev):\n    helper(ev)\n\n"
    "def helper(ev):\n    somelib.block(ev)\n\n"
    "def spin(ev):\n    ev.wait(10)\n",
    somelib=LIB,
)
CORE = _module(
    "netdrv_core.fake_host",
    "def dev_queue_xmit(fn, ev):\n    fn(ev)\n\ndef run(ev):\n    ev.wait(10)\n",
)


def test_a_driver_blocked_in_its_own_code_is_named_alone() -> None:
    with _stuck("spin", CORE.dev_queue_xmit, DRIVER.spin) as where:
        assert where == "netdrv_fake.driver.spin (/srv/netdrv_fake/driver.py:8)", where


def test_a_library_blocking_inside_a_driver_callback_is_named_as_such() -> None:
    with _stuck("block", CORE.dev_queue_xmit, DRIVER.start_xmit) as where:
        # The driver's innermost line that called the library, then the library's frame.
        assert where == (
            "netdrv_fake.driver.helper (/srv/netdrv_fake/driver.py:5), "
            "in somelib.net.block (/srv/somelib/net.py:2)"
        ), where


def test_no_driver_frame_on_the_stack() -> None:
    # netdrv_core and the standard library only (the core waiting on its own).
    with _stuck("callback", CORE.run) as where:
        assert where == "an event-loop callback"
    assert stuck_in(None) == "an event-loop callback"


SITE = sysconfig.get_paths()["purelib"]  # site-packages: inside the stdlib's directory
SITE_LIB = _module("otherlib.io", "def block(ev):\n    ev.wait(10)\n", root=SITE)
SITE_DRIVER = _module(
    "netdrv_pipdrv.driver",
    "def start_xmit(ev):\n    otherlib.block(ev)\n",
    root=SITE,
    otherlib=SITE_LIB,
)


def test_installed_packages_are_not_taken_for_the_standard_library() -> None:
    # A driver installed with pip (not -e) and a library from PyPI both live in site-packages.
    with _stuck("block", CORE.dev_queue_xmit, SITE_DRIVER.start_xmit) as where:
        assert where == (
            f"netdrv_pipdrv.driver.start_xmit ({SITE}/netdrv_pipdrv/driver.py:2), "
            f"in otherlib.io.block ({SITE}/otherlib/io.py:2)"
        ), where


def test_a_plugin_whose_name_starts_like_the_core_is_not_the_core() -> None:
    lookalike = _module("netdrv_core_extras.drv", "def spin(ev):\n    ev.wait(10)\n")
    with _stuck("spin", CORE.dev_queue_xmit, lookalike.spin) as where:
        assert where.startswith("netdrv_core_extras.drv.spin ("), where
