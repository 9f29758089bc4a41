"""netdrv_core exports its names lazily (PEP 562): a CLI command does not import the SDK.

``netdrv drivers`` and the other commands only need the control client, yet importing any
``netdrv_core`` submodule runs the package's ``__init__``; with eager exports that imported
every core module (host, ethtool, GRO, ...) first, a fifth of a second on a slow machine.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import netdrv_core


def test_the_cli_does_not_import_the_driver_model() -> None:
    code = (
        "import sys, netdrv_core.cli; "
        "print(sorted(m for m in ('netdrv_core.host', 'netdrv_core.ethtool', 'netdrv_core.gro', "
        "'netdrv_core.skbuff') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_every_exported_name_resolves_to_its_module_object() -> None:
    from netdrv_core.host import Host
    from netdrv_core.skbuff import SkBuff

    assert netdrv_core.Host is Host and netdrv_core.SkBuff is SkBuff
    assert all(getattr(netdrv_core, name) is not None for name in netdrv_core.__all__)
    namespace: dict[str, object] = {}
    exec("from netdrv_core import *", namespace)
    assert set(netdrv_core.__all__) <= set(namespace)


def test_submodules_and_version_are_attributes_and_a_typo_is_an_attribute_error() -> None:
    assert netdrv_core.napi.__name__ == "netdrv_core.napi"
    assert isinstance(netdrv_core.__version__, str) and netdrv_core.__version__
    with pytest.raises(AttributeError, match="no attribute 'netif_rx_schedule'"):
        netdrv_core.netif_rx_schedule  # noqa: B018
    assert "dev_queue_xmit" in dir(netdrv_core)


def test_the_three_lists_of_exports_agree() -> None:
    # A name is exported in three places: the TYPE_CHECKING imports (what mypy and IDEs
    # see), _EXPORTS (what __getattr__ imports) and __all__; one left out of one of them
    # would type-check but fail at run time, or the other way round.
    import ast
    from pathlib import Path

    tree = ast.parse(Path(netdrv_core.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If))
    imported = {
        alias.asname or alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == netdrv_core._EXPORTS
    assert set(netdrv_core.__all__) == set(imported)
