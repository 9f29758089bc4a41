"""``netdrv load DRIVER:TAG``: a second instance of a driver that drives one thing per load."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netdrv_core import Host, NetdrvError, ParameterError
from netdrv_core.daemon import Daemon
from netdrv_core.driver import split_instance
from netdrv_core.plugins import PluginManager


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    host = Host()
    pm = PluginManager(autoload=False, extra=["netdrv_loopback", "netdrv_snull"])
    d = Daemon(host=host, pm=pm, watchdog=None, exit_when_empty=False)
    yield d
    d.shutdown()
    host.close()
    host.loop.close()


def test_a_second_instance_loads_beside_the_first_and_unloads_alone(daemon: Daemon) -> None:
    daemon.load("loopback", [])
    reply = daemon.load("loopback:b", ["name=lb%d"])
    assert reply["devices"] == ["lb0"]
    status = daemon.handle({"cmd": "status"})
    assert [d["name"] for d in status["drivers"]] == ["loopback", "loopback:b"]
    assert {d["name"]: (d["driver"], d["instance"]) for d in status["devices"]} == {
        "nlo0": ("loopback", "loopback"), "lb0": ("loopback", "loopback:b"),
    }  # fmt: skip
    assert [d["driver"] for d in status["drivers"]] == ["loopback", "loopback"]
    daemon.unload("loopback:b")
    assert list(daemon.host.devices) == ["nlo0"] and list(daemon.drivers) == ["loopback"]


def test_loading_an_instance_twice_says_how_to_load_another(daemon: Daemon) -> None:
    daemon.load("loopback", [])
    with pytest.raises(NetdrvError, match=r"netdrv load loopback:b"):
        daemon.load("loopback", [])


def test_a_driver_loaded_once_per_namespace_refuses_an_instance(daemon: Daemon) -> None:
    with pytest.raises(ParameterError, match="'snull' is loaded once per namespace"):
        daemon.load("snull:b", ["configure=0"])
    assert not daemon.host.devices and not daemon.drivers


@pytest.mark.parametrize("name", ["slip:", "slip:a b", "slip:" + "x" * 16, "slip:a:b"])
def test_a_bad_tag_says_what_a_tag_may_hold(name: str) -> None:
    with pytest.raises(ParameterError, match="an instance is named DRIVER:TAG"):
        split_instance(name)


def test_names_without_a_tag_are_the_driver_itself() -> None:
    assert split_instance("slip") == ("slip", None)
    assert split_instance("slip:line-2") == ("slip", "line-2")


def test_the_already_loaded_hint_names_a_free_instance(daemon: Daemon) -> None:
    daemon.load("loopback", [])
    daemon.load("loopback:b", ["name=lb%d"])
    with pytest.raises(NetdrvError, match=r"netdrv load loopback:c "):
        daemon.load("loopback:b", [])
