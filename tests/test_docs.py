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

import ast
import importlib.metadata as md
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from netdrv_core.testing import NetNamespace

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


def test_the_concepts_page_lists_every_control_command() -> None:
    from netdrv_core.control import COMMANDS

    text = (DOCS / "concepts.md").read_text(encoding="utf-8")
    m = re.search(r"Requests carry `cmd` — (.*?) — and replies", text, re.S)
    assert m, "docs/concepts.md: the sentence listing the control requests is gone"
    listed = re.findall(r"`(\w+)`", m.group(1))
    assert sorted(listed) == sorted(COMMANDS), (
        f"docs/concepts.md lists the requests {listed}; control.COMMANDS has {list(COMMANDS)}"
    )


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


def test_contributing_s_conformance_command_runs_only_the_kit() -> None:
    # Run from the repository's root, a bare `pytest --netdrv-conformance=NAME` collects
    # the whole suite too (testpaths) and runs it, namespaces and all, one test at a time.
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    adding = text.split("## Adding a driver", 1)[1]
    (cmd,) = re.findall(r"`((?:python -m )?pytest --netdrv-conformance=mydrv[^`]*)`", adding)
    args = shlex.split(cmd.replace("=mydrv", "=snull"))
    args = args[args.index("pytest") + 1 :]
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    ids = [line for line in res.stdout.splitlines() if "::" in line]
    assert ids and all(i.startswith("netdrv-conformance::") for i in ids), (
        f"`{cmd}` (CONTRIBUTING.md) runs more than the kit: {len(ids)} tests, e.g. "
        f"{[i for i in ids if not i.startswith('netdrv-conformance::')][:3]}"
    )


def test_the_extras_table_lists_what_each_extra_installs() -> None:
    # docs/index.md's table of extras is how a contributor learns what `.[test]` brings
    # (ruff, mypy...): each requirement of an extra that the base install lacks is named.
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]

    def name(req: str) -> str:
        return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower()

    base = {name(r) for r in project["dependencies"]}
    rows = dict(re.findall(r"^\| `(\w+)` +\| (.*?) *\|$", (DOCS / "index.md").read_text(), re.M))
    for extra, reqs in project["optional-dependencies"].items():
        assert extra in rows, f"docs/index.md's table of extras has no row for {extra!r}"
        for req in reqs:
            dist = name(req)
            if dist != "netdrv" and dist not in base:
                assert dist in rows[extra].lower(), (
                    f"docs/index.md: the `{extra}` extra installs {dist}, its row does not say so"
                )


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


def _help_options(lines: list[str]) -> list[str]:
    """The options of a click ``--help`` page (``-v, --verbose``), ``-h, --help`` left out."""
    out: list[str] = []
    in_options = False
    for line in lines:
        if not line.startswith(" "):
            in_options = line.strip() == "Options:"
            continue
        m = re.match(r"^  (-[^ ,]+(?:, -[^ ,]+)*)", line) if in_options else None
        if m and m.group(1) != "-h, --help":
            out.append(m.group(1))
    return out


def test_help_options_parser() -> None:
    page = [
        "Usage: netdrv log [OPTIONS]", "", "  The log.", "", "Options:",
        "  -a, --all      every daemon", "                 (up to 8 MiB)",
        "  -n, --lines N  only the last N lines  [x>=0]", "  --json         output",
        "  -h, --help     Show this message and exit.",
    ]  # fmt: skip
    assert _help_options(page) == ["-a, --all", "-n, --lines", "--json"]
    # A doc that stops before an option (or leaves out Options:) misses it.
    assert set(_help_options(page)) - set(_help_options(page[:6])) == {"-n, --lines", "--json"}
    assert _help_options(page[:4]) == []


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
        # The doc is a prefix of the real page: it may stop after the last option, leaving
        # out `-h, --help` (which every command has), not before: one added later would
        # go unnoticed.
        missing = [o for o in _help_options(real) if o not in _help_options(doc)]
        assert not missing, (
            f"{page}: the reproduced '{' '.join(['netdrv', *words, '--help'])}' stops before "
            f"the options {', '.join(missing)}: reproduce its whole Options: section"
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


# -- code a driver author copies ----------------------------------------------------------
def _python_blocks(page: str) -> list[str]:
    text = (ROOT / page).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def _pytest_in(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run pytest in a subprocess (no pytest/netdrv variables of this run); its output."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True, text=True, timeout=600, cwd=cwd, env={**base, **(env or {})},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_the_driver_model_test_examples_pass(tmp_path: Path) -> None:
    """The test functions of the driver model page's "Testing a driver", copied into a file
    as they are (the first block defines the frame helper the others use), pass."""
    text = (DOCS / "driver-model.md").read_text(encoding="utf-8")
    section = text.split("\n## Testing a driver\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "def test_" in b]
    assert len(blocks) >= 2 and "def udp_frame" in blocks[0], "the page's examples changed"
    (tmp_path / "test_page.py").write_text("\n\n".join(blocks))
    assert f"{len(blocks)} passed" in _pytest_in(tmp_path, "test_page.py")


def test_what_driver_model_examples_call_is_netdrv_s_or_the_authors() -> None:
    """Every function a driver-model.md example calls is defined on the page, a builtin,
    importable from netdrv_core (or the module the example imports it from) — or, named
    ``my_…``, the author's own hardware code.  (``next_frame`` in the NAPI example looked
    like an SDK call that does not exist.)"""
    import builtins

    import netdrv_core

    unknown: dict[str, int] = {}
    defined = set(dir(builtins))  # and what an example defines, for the examples after it
    for i, code in enumerate(_python_blocks("docs/driver-model.md")):
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.arg):
                defined.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                name = node.func.id
                if name in defined or name.startswith(("my_", "My")):
                    continue
                if not hasattr(netdrv_core, name):
                    unknown.setdefault(name, i)
    assert not unknown, f"driver-model.md examples call what netdrv_core lacks: {unknown}"


# -- the tutorial ----------------------------------------------------------------------------
TUTORIAL = DOCS / "tutorial.md"


def tutorial_project(root: Path, name: str = "tutdrv") -> Path:
    """The project ``docs/tutorial.md`` builds, for driver ``name`` (not ``mydrv``, which a
    developer may have installed): ``netdrv new-driver``, then the page's files as it
    gives them and its new first line of ``__init__.py``."""
    from netdrv_core.scaffold import create_driver_project

    def renamed(text: str) -> str:
        return text.replace("mydrv", name).replace("Mydrv", name.capitalize())

    project = root / name
    create_driver_project(name, project)
    text = TUTORIAL.read_text(encoding="utf-8")
    files = re.findall(r"<!-- tutorial-file: (\S+) -->\n```python\n(.*?)```", text, re.S)
    assert {p for p, _ in files} == {
        "src/netdrv_mydrv/driver.py", "tests/test_mydrv.py", "tests/test_mydrv_conformance.py"
    }  # fmt: skip
    for path, code in files:
        target = project / renamed(path)
        assert target.is_file(), f"the scaffold writes no {path}: the tutorial replaces it"
        target.write_text(renamed(code))
    first = re.search(r"```text\n(\"\"\"mydrv: .*)\n```", text)
    assert first, "the tutorial's new first line of __init__.py is gone"
    init = project / "src" / f"netdrv_{name}" / "__init__.py"
    old = init.read_text().split("\n", 1)
    assert old[0].startswith(f'"""{name}: ')
    init.write_text(renamed(first.group(1)) + "\n" + old[1])
    return project


def tutorial_env(project: Path) -> dict[str, str]:
    """The project's driver found without installing it: on PYTHONPATH, named in NETDRV_PLUGINS."""
    path = [str(project / "src"), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(filter(None, path)),
            "NETDRV_PLUGINS": f"netdrv_{project.name}"}  # fmt: skip


def test_the_tutorial_project_passes_its_tests_and_ruff(tmp_path: Path) -> None:
    """The tutorial's driver and tests, in a project fresh from ``netdrv new-driver``: its own
    tests and the conformance kit (both classes) pass, and ruff finds nothing."""
    project = tutorial_project(tmp_path)
    out = _pytest_in(project, env=tutorial_env(project))
    assert "TestConformanceOnePairQuiet" not in out and " passed" in out
    listing = _pytest_in(project, "--collect-only", env=tutorial_env(project))
    assert "::TestConformanceOnePairQuiet::" in listing and "test_tutdrv.py::" in listing
    import shutil

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    res = subprocess.run(
        [ruff, "check", "--isolated", "--no-cache", "--select", "E,F,W,I,B,UP,RUF012", "."],
        capture_output=True, text=True, timeout=120, cwd=project,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_scaffold_conformance_test_refuses_the_tutorial_driver_as_the_page_says(
    tmp_path: Path,
) -> None:
    """Step 7: before its conformance test is replaced, the scaffold's fails on the new
    driver with the message the page quotes (its parameter ``count`` is gone)."""
    from netdrv_core.scaffold import create_driver_project

    project = tutorial_project(tmp_path / "t")
    scaffold = tmp_path / "s" / "tutdrv"
    create_driver_project("tutdrv", scaffold)
    conformance = project / "tests" / "test_tutdrv_conformance.py"
    conformance.write_text((scaffold / "tests" / "test_tutdrv_conformance.py").read_text())
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(conformance),
         "-k", "OneInterface and test_driver_loads"],
        capture_output=True, text=True, timeout=300, cwd=project,
        env={**base, **tutorial_env(project)},
    )  # fmt: skip
    text = " ".join(TUTORIAL.read_text(encoding="utf-8").replace("mydrv", "tutdrv").split())
    claim = re.search(r"the kit would say that `([^`]+)` names what the driver lacks \(`([^`]+)`\)",
                      text)  # fmt: skip
    assert claim, "the tutorial's quote of the kit's message is gone"
    assert res.returncode == 1 and "1 error" in res.stdout, res.stdout + res.stderr
    out = " ".join(res.stdout.split())
    assert f"with {claim.group(1)}, which it refuses" in out, out
    assert claim.group(2) in out, out


def test_the_tutorial_driver_is_what_the_page_says(tmp_path: Path) -> None:
    """What the prose and the console session claim of the driver, checked on the memory stack:
    the parameters and their limits, the ring sizes `ethtool -g` shows and the refusal of
    `ethtool -G mydrv1 rx 8`."""
    import importlib

    from netdrv_core import Host, ParameterError, PluginManager
    from netdrv_core.ethtool import EthtoolError, ethtool_get, ethtool_set
    from netdrv_core.params import parse_params

    project = tutorial_project(tmp_path)
    text = TUTORIAL.read_text(encoding="utf-8")
    sys.path.insert(0, str(project / "src"))
    try:
        pm = PluginManager(autoload=False, extra=["netdrv_tutdrv"])
        cls = pm.get_driver("tutdrv")
        decl = pm.driver_parameters("tutdrv")
        assert [p.name for p in decl] == ["pairs", "ifname", "carrier", "debug"]
        assert "netdrv\nload mydrv pairs=9` is refused" in text
        with pytest.raises(ParameterError, match=r"must be 1\.\.8"):
            parse_params("tutdrv", decl, ["pairs=9"])
        host = Host()
        drv = cls(host, parse_params("tutdrv", decl, []))
        with host.as_current():
            drv.init()
            a, b = drv.devices
            assert [a.name, b.name] == ["tutdrv0", "tutdrv1"]
            ring = ethtool_get(host, b, "ringparam")
            assert (ring.rx_max_pending, ring.rx_pending, ring.tx_max_pending) == (4096, 256, 0)
            assert "RX:\t\t4096\n" in text and "RX:\t\t256\n" in text
            with pytest.raises(EthtoolError) as refused:
                ethtool_set(host, b, "ringparam", {"rx_pending": 8})
            assert str(refused.value).split(": ", 1)[1] in text.replace("mydrv", "tutdrv")
            drv.exit()
        host.close()
    finally:
        sys.path.remove(str(project / "src"))
        for mod in [m for m in sys.modules if m.startswith("netdrv_tutdrv")]:
            del sys.modules[mod]
        importlib.invalidate_caches()


@pytest.mark.netns
def test_the_tutorial_session_runs_as_shown(tmp_path: Path, netns: NetNamespace) -> None:
    """Step 8's console session, command by command, in a namespace of the test's own: what
    ``netdrv load``, ``netdrv ethtool`` and ``ip`` print is what the page shows; ping, status
    and log show what it says (their figures and times differ from run to run)."""
    import json
    import time

    project = tutorial_project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NETDRV_"))}
    env.update(tutorial_env(project))
    text = TUTORIAL.read_text(encoding="utf-8").replace("mydrv", "tutdrv")
    session = text.split("\n## 8. Load it\n", 1)[1].split("```console\n", 1)[1].split("```")[0]
    steps: list[tuple[str, list[str]]] = []
    for line in session.splitlines():
        if line.startswith("# "):
            steps.append((line[2:].split("  #", 1)[0].strip(), []))
        elif line.strip():
            steps[-1][1].append(line.rstrip())
    cli = f"{sys.executable} -m netdrv_core.cli"

    def run(cmd: str) -> list[str]:
        shell = re.sub(r"(^|\| )netdrv ", lambda m: f"{m.group(1)}{cli} ", cmd)
        res = netns.run(["sh", "-c", shell], env=env, check=False)
        return [ln.rstrip() for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]

    def stats() -> dict[str, dict[str, int]]:
        st = json.loads("\n".join(run("netdrv status --json")))
        return {d["name"]: d["stats"] for d in st["devices"]}

    ran = []
    for cmd, shown in steps:
        if cmd in ("ip netns add try", "ip netns exec try bash", "exit", "ip netns del try"):
            continue  # the test's namespace is made and deleted by the fixture
        out = run(cmd)
        ran.append(cmd)
        if cmd.startswith(("netdrv load", "netdrv ethtool", "ip ", "netdrv unload")):
            assert out == shown, (cmd, out, shown)
        elif cmd.startswith("ping"):
            assert out[0].startswith("3 packets transmitted, 0 received, 100% packet loss")
        elif cmd == "netdrv status":
            assert [ln for ln in out if "tutdrv0 │" in ln or "tutdrv1 │" in ln], out
            deadline = time.monotonic() + 10  # a frame sent may still wait for the poll
            while True:
                s = stats()
                crossed = (s["tutdrv0"]["tx_packets"] == s["tutdrv1"]["rx_packets"] > 0
                           and s["tutdrv1"]["tx_packets"] == s["tutdrv0"]["rx_packets"])  # fmt: skip
                if crossed or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert crossed, s
        elif cmd.startswith("netdrv log"):
            assert [ln.split(" ", 2)[2] for ln in out] == [ln.split(" ", 2)[2] for ln in shown]
    assert ran[0] == "netdrv load tutdrv" and ran[-1] == "netdrv unload tutdrv", ran
    assert "tutdrv" not in netns.run("ip -o link").stdout


# -- what a newcomer finds: every page reachable, every module placed ---------------------
def _nav_pages(yml: str) -> list[str]:
    """The pages of mkdocs.yml's ``nav:`` (``- Title: page.md`` or ``- page.md``), in order."""
    nav = yml.split("\nnav:\n", 1)[1]
    pages = []
    for line in nav.splitlines():
        if line.strip() and not line.startswith(" "):
            break  # the next top-level key
        m = re.match(r"^(\s*)- (?:[^:]+: |\"[^\"]+\": )?(\S+\.md)$", line)
        if m:
            pages.append(m.group(2))
    return pages


def _top_level_nav_pages(yml: str) -> list[str]:
    """The nav's pages that are not in a section (``  - Title: page.md`` at the first level)."""
    nav = yml.split("\nnav:\n", 1)[1]
    return re.findall(r"^  - (?:[^:\n]+|\"[^\"\n]+\"): (\S+\.md)$", nav, re.M)


def test_nav_parser() -> None:
    yml = (
        'site_name: x\nnav:\n  - Home: index.md\n  - "Tutorial: first": tutorial.md\n'
        "  - Drivers:\n      - snull: drivers/snull.md\n  - API reference:\n"
        "      - reference/index.md\n      - skbuff: reference/skbuff.md\nextra: 1\n"
    )
    assert _nav_pages(yml) == [
        "index.md", "tutorial.md", "drivers/snull.md", "reference/index.md", "reference/skbuff.md"
    ]  # fmt: skip
    assert _top_level_nav_pages(yml) == ["index.md", "tutorial.md"]


def _doc_pages() -> set[str]:
    """Every page of the site (docs/**/*.md, less what mkdocs.yml's exclude_docs leaves out)."""
    return {
        str(p.relative_to(DOCS))
        for p in DOCS.rglob("*.md")
        if not {"build", "dist", "__pycache__"} & set(p.relative_to(DOCS).parts)
        and not any(part.endswith(".egg-info") for part in p.parts)
    }


def test_every_page_is_in_the_nav() -> None:
    # mkdocs only says so at INFO level: --strict builds a site with pages no menu reaches.
    nav = _nav_pages(MKDOCS_YML.read_text(encoding="utf-8"))
    assert len(nav) == len(set(nav)), f"mkdocs.yml's nav has a page twice: {nav}"
    missing = sorted(_doc_pages() - set(nav))
    assert not missing, f"pages no entry of mkdocs.yml's nav reaches: {missing}"


def _linked_pages(text: str) -> set[str]:
    """The pages a Markdown text links to (``[...](page.md)`` or ``(page.md#anchor)``)."""
    return set(re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)", text))


def test_the_front_page_links_every_top_level_page() -> None:
    """docs/index.md ("Where to go next") reaches every page of the nav's first level, as
    reference/index.md does every reference page: a page added to the nav alone is one a
    reader of the front page never hears of."""
    yml = MKDOCS_YML.read_text(encoding="utf-8")
    linked = _linked_pages((DOCS / "index.md").read_text(encoding="utf-8"))
    missing = [p for p in _top_level_nav_pages(yml) if p != "index.md" and p not in linked]
    assert not missing, f"docs/index.md links no page {missing} of mkdocs.yml's nav"
    ref_linked = _linked_pages((DOCS / "reference" / "index.md").read_text(encoding="utf-8"))
    ref_pages = [
        p for p in _nav_pages(yml) if p.startswith("reference/") and p != "reference/index.md"
    ]
    unlisted = [p for p in ref_pages if p.removeprefix("reference/") not in ref_linked]
    assert not unlisted, f"docs/reference/index.md's table has no row for {unlisted}"


def test_links_of_the_repository_s_own_pages_resolve() -> None:
    # README.md and CONTRIBUTING.md are no pages of the site: mkdocs checks none of their links.
    for page in ("README.md", "CONTRIBUTING.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(((?!https?:)[^)#\s]+)(?:#[^)]*)?\)", text):
            assert (ROOT / target).exists(), f"{page} links to {target}, which does not exist"


def _layout_block() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    return text.split("## Layout", 1)[1].split("```", 2)[1]


def test_contributing_s_layout_places_every_module() -> None:
    """Every module and package of netdrv_core is named in CONTRIBUTING.md's layout, where a
    contributor looks for the file that does a job."""
    layout = set(re.findall(r"[\w.]+", _layout_block()))
    core = ROOT / "netdrv_core"
    names = [p.name for p in core.glob("*.py") if p.name != "__init__.py"]
    names += [f"{p.name}/" for p in core.iterdir() if (p / "__init__.py").is_file()]
    missing = sorted(n for n in names if n.rstrip("/") not in layout)
    assert not missing, f"CONTRIBUTING.md's layout does not name {missing}"
