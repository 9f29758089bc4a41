"""The documentation site: it builds with ``mkdocs build --strict`` and covers the CLI and drivers.

* the whole site (API reference generated from docstrings included) builds
  without a warning;
* every command ``netdrv --help`` lists has a section in ``docs/cli.md``;
* every first-party driver (the ``netdrv.drivers`` entry points of this
  distribution) has a page under ``docs/drivers/`` that is in the nav, whose
  parameter table lists each parameter with its default and choices;
* every ``--help`` page the docs reproduce (``Usage: netdrv …``) is what the
  command prints (the doc may stop early, not differ).
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MKDOCS_YML = ROOT / "mkdocs.yml"


def _netdrv_help() -> str:
    res = subprocess.run(
        [sys.executable, "-m", "netdrv_core.cli", "--help"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout


def _help_commands(text: str) -> list[str]:
    """Command names of a click ``--help`` page (the ``Commands:`` section)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Commands:")
    out = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        m = re.match(r"^  (\S+)(\s|$)", line)
        if m:  # a continuation of a wrapped description is indented further
            out.append(m.group(1))
    return out


def _first_party_drivers() -> set[str]:
    """Driver names of the ``netdrv.drivers`` entry points this distribution declares."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    names = set(project["entry-points"]["netdrv.drivers"])
    try:
        dist = md.distribution("netdrv")
    except md.PackageNotFoundError:
        return names
    return names | {ep.name for ep in dist.entry_points if ep.group == "netdrv.drivers"}


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pip install -e '.[docs]'; the [all] extra has it)",
)
def test_site_builds_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
         "-f", str(MKDOCS_YML), "-d", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=env,
    )  # fmt: skip
    output = res.stdout + res.stderr
    assert res.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    assert not re.search(r"^WARNING", output, re.MULTILINE), output
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    # The API reference really was generated from the docstrings.
    ref = (site / "reference" / "skbuff" / "index.html").read_text(encoding="utf-8")
    assert 'id="netdrv_core.skbuff.SkBuff"' in ref
    assert "skb_over_panic" in ref  # from the SkbOverPanic docstring


def test_help_parser_sees_every_command() -> None:
    sample = (
        "Usage: netdrv [OPTIONS] COMMAND [ARGS]...\n\nOptions:\n  --version  Show.\n\n"
        "Commands:\n  capture     Capture frames of DEV (both directions, as the\n"
        "              driver sees...\n  new-driver  Write a project.\n  stop\n"
    )
    assert _help_commands(sample) == ["capture", "new-driver", "stop"]


def test_every_cli_command_is_documented() -> None:
    commands = _help_commands(_netdrv_help())
    assert {"load", "unload", "status", "drivers", "capture", "stop", "set"} <= set(commands)
    cli_md = (DOCS / "cli.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,3} netdrv ([\w-]+)", cli_md, re.MULTILINE))
    missing = [c for c in commands if c not in headings]
    assert not missing, f"docs/cli.md has no '## netdrv CMD' section for: {', '.join(missing)}"
    for option in ("--version", "-p no:NAME", "NETDRV_DISABLE_PLUGIN_AUTOLOAD", "NETDRV_PLUGINS",
                   "--foreground", "--json", "--verbose"):  # fmt: skip
        assert option in cli_md, f"docs/cli.md does not mention {option}"


def test_every_driver_has_a_page_in_the_nav() -> None:
    drivers = _first_party_drivers()
    assert {"snull", "loopback"} <= drivers
    nav = MKDOCS_YML.read_text(encoding="utf-8")
    for name in sorted(drivers):
        page = DOCS / "drivers" / f"{name}.md"
        assert page.is_file(), f"driver {name!r} has no page docs/drivers/{name}.md"
        text = page.read_text(encoding="utf-8")
        assert len(text.split()) > 150, f"docs/drivers/{name}.md is a placeholder"
        assert f"drivers/{name}.md" in nav, f"docs/drivers/{name}.md is not in mkdocs.yml's nav"


def _help_blocks() -> list[tuple[str, list[str], list[str]]]:
    """(page, command words, lines) of every help page reproduced in the docs."""
    out = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(
            r"```(?:text|console)\n(?:\$ netdrv --help\n)?(Usage: netdrv .*?)```", text, re.S
        ):
            block = m.group(1)
            cmd = re.match(r"Usage: netdrv (?:\[OPTIONS\] )?([\w-]+)", block).group(1)
            words = [] if cmd == "COMMAND" else [cmd]
            out.append((str(page.relative_to(DOCS.parent)), words, block.rstrip("\n").splitlines()))
    return out


def test_help_pages_in_the_docs_are_current() -> None:
    blocks = _help_blocks()
    assert len(blocks) >= 10, [b[:2] for b in blocks]
    for page, words, doc in blocks:
        res = subprocess.run(
            [sys.executable, "-m", "netdrv_core.cli", *words, "--help"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            env={**os.environ, "COLUMNS": "80"},
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        real = [line.rstrip() for line in res.stdout.splitlines()]
        doc = [line.rstrip() for line in doc]
        assert real[: len(doc)] == doc, (
            f"{page}: '{' '.join(['netdrv', *words, '--help'])}' differs from the doc:\n"
            + "\n".join(
                f"  doc:  {d}\n  real: {r}" for d, r in zip(doc, real, strict=False) if d != r
            )
        )


def test_driver_pages_list_every_parameter() -> None:
    from netdrv_core import PluginManager

    pm = PluginManager()
    for name in sorted(_first_party_drivers()):
        text = (DOCS / "drivers" / f"{name}.md").read_text(encoding="utf-8")
        for p in pm.driver_parameters(name):
            rows = [line for line in text.splitlines() if line.startswith(f"| `{p.name}` |")]
            assert len(rows) == 1, f"docs/drivers/{name}.md: no (single) table row for {p.name}="
            cells = [c.strip() for c in rows[0].strip().strip("|").split("|")]
            for choice in p.choices or ():
                assert not choice or f"`{choice}`" in cells[1], (
                    f"docs/drivers/{name}.md: {p.name}= does not list the choice {choice!r}"
                )  # fmt: skip
            default = str(p.default)
            want = f"`{default}`" if default else "empty"
            assert want in cells[2], (
                f"docs/drivers/{name}.md: {p.name}= default is {want}: {cells[2]}"
            )


def test_constants_on_the_driver_model_page_are_importable_from_netdrv_core() -> None:
    """The page says everything on it comes from ``netdrv_core`` unless a module is named."""
    import netdrv_core

    text = (DOCS / "driver-model.md").read_text(encoding="utf-8")
    prefixes = ("NETIF_F_", "CHECKSUM_", "PACKET_", "SKB_GSO_", "NET_", "NETDEV_", "GRO_", "ETH_")
    names = {n for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", text) if n.startswith(prefixes)}
    names.discard("NET_RX")  # the softirq, named for comparison
    assert names, "no constants found: the pattern is stale"
    missing = sorted(n for n in names if not hasattr(netdrv_core, n))
    assert not missing, f"driver-model.md names constants netdrv_core does not export: {missing}"


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_the_few_dozen_lines_driver_runs(page: str) -> None:
    """The README's (and the site's front page) example driver is real code: it imports,
    registers its device with a random address, and swallows a frame, counting it."""
    from netdrv_core import NET_ADDR_RANDOM, Host, SkBuff, dev_open, dev_queue_xmit

    text = (ROOT / page).read_text()
    block = text.split("A driver is a few dozen lines", 1)[1].split("```python\n", 1)[1]
    code = block.split("```", 1)[0]
    ns: dict[str, object] = {}
    exec(compile(code, page, "exec"), ns)  # the page's own code
    assert [d.name for d in ns["netdrv_drivers"]()] == ["null"]  # type: ignore[operator]
    host = Host()
    with host.as_current():
        drv = ns["Null"](host, {})  # type: ignore[operator]
        drv.init()
        (dev,) = drv.devices
        assert dev.name == "null0" and dev.addr_assign_type == NET_ADDR_RANDOM
        assert dev_open(dev) == 0
        skb = SkBuff(64)
        skb.put_data(bytes(60))
        skb.dev = dev
        dev_queue_xmit(skb)
        host.loop.run_until_idle()
    assert (dev.stats.tx_packets, dev.stats.tx_bytes) == (1, 60)
