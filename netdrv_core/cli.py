"""The ``netdrv`` command line.

``netdrv load DRIVER [name=value …]`` works like ``modprobe``: it starts this
network namespace's daemon if needed, loads the driver in it and returns once
the interfaces exist.  ``unload``, ``status``, ``capture``, ``stop`` talk to
that daemon; ``drivers`` reads plugin metadata only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import click

from .control import ControlClient, DaemonNotRunning
from .errors import NetdrvError

__all__ = ["main"]


def _console() -> Any:
    from rich.console import Console

    # Pipes and CI logs get a wide table instead of 80 columns of ellipses.
    return Console(width=None if sys.stdout.isatty() else 160)


def _fail(msg: str, code: int = 1) -> None:
    click.echo(f"netdrv: {msg}", err=True)
    sys.exit(code)


def _has_net_admin() -> bool:
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 12))
    except OSError:
        pass
    return False


def _plugin_manager(plugins: tuple[str, ...]) -> Any:
    from .plugins import PluginManager

    disabled = [p[3:] for p in plugins if p.startswith("no:")]
    extra = [p for p in plugins if not p.startswith("no:")]
    return PluginManager(disabled=disabled, extra=extra)


def _daemon_args(plugins: tuple[str, ...]) -> list[str]:
    args = []
    for p in plugins:
        args += ["-p", p]
    return args


def start_daemon(plugins: tuple[str, ...] = (), timeout: float = 15.0) -> None:
    """Start this namespace's daemon in the background and wait until it listens."""
    from .daemon import log_path

    path = log_path()
    r, w = os.pipe()
    with open(path, "ab", buffering=0) as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "netdrv_core.daemon", "--ready-fd", str(w),
             *_daemon_args(plugins)],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, pass_fds=(w,),
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    os.close(w)
    deadline = time.monotonic() + timeout
    import select

    while time.monotonic() < deadline:
        ready, _, _ = select.select([r], [], [], 0.1)
        if ready:
            ok = os.read(r, 1)
            os.close(r)
            if ok:
                return
            break
        if proc.poll() is not None:
            break
    else:
        os.close(r)
    code = proc.poll()
    tail = ""
    try:
        with open(path, errors="replace") as f:
            tail = "".join(f.readlines()[-5:])
    except OSError:
        pass
    _fail(f"the daemon did not start (exit status {code}); its log {path} says:\n{tail}")


def _client(start: bool = False, plugins: tuple[str, ...] = ()) -> ControlClient:
    try:
        return ControlClient()
    except DaemonNotRunning:
        if not start:
            raise
    start_daemon(plugins)
    return ControlClient()


def _check(reply: dict[str, Any]) -> dict[str, Any]:
    if not reply.get("ok"):
        _fail(str(reply.get("error", "the daemon refused the request")))
    return reply


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netdrv", prog_name="netdrv")
@click.option("-p", "plugins", multiple=True, metavar="no:NAME|MODULE",
              help="disable a plugin (no:NAME) or load an extra plugin module")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, plugins: tuple[str, ...]) -> None:
    """netdrv — write, load and test network drivers in Python."""
    ctx.obj = {"plugins": plugins}


@cli.command()
@click.option("-v", "--verbose", is_flag=True, help="show each driver's parameters")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def drivers(ctx: click.Context, verbose: bool, as_json: bool) -> None:
    """List installed drivers (reads metadata; imports nothing unless --verbose)."""
    pm = _plugin_manager(ctx.obj["plugins"])
    infos = pm.list_drivers()
    rows = []
    for info in infos:
        row: dict[str, Any] = {
            "name": info.name, "distribution": info.distribution, "version": info.version,
            "summary": info.summary, "disabled": info.disabled,
        }  # fmt: skip
        if verbose and not info.disabled:
            try:
                row["parameters"] = [p.describe() for p in pm.driver_parameters(info.name)]
            except NetdrvError as exc:
                row["error"] = str(exc)
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table(title="netdrv drivers")
    for col in ("driver", "distribution", "version", "summary"):
        t.add_column(col)
    for r in rows:
        summary = r["summary"] + (" [dim](disabled)[/]" if r["disabled"] else "")
        if "error" in r:
            summary += f"\n[red]{r['error']}[/]"
        if "parameters" in r:
            summary += "\n" + "\n".join(f"  [cyan]{p}[/]" for p in r["parameters"])
        t.add_row(r["name"], r["distribution"], r["version"], summary)
    _console().print(t)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("driver")
@click.argument("params", nargs=-1)
@click.option("-f", "--foreground", is_flag=True,
              help="run in this terminal with live stats; Ctrl-C unloads")  # fmt: skip
@click.pass_context
def load(ctx: click.Context, driver: str, params: tuple[str, ...], foreground: bool) -> None:
    """Load DRIVER with name=value PARAMS; returns once its interfaces exist."""
    plugins = ctx.obj["plugins"]
    pm = _plugin_manager(plugins)
    try:
        from .params import parse_params

        parse_params(driver, pm.driver_parameters(driver), params)
    except NetdrvError as exc:
        _fail(str(exc), 2)
    if not _has_net_admin():
        _fail(
            "loading a driver creates kernel interfaces, which needs CAP_NET_ADMIN: run as root "
            "(sudo netdrv load …) or see docs/troubleshooting.md for running the daemon with "
            "only CAP_NET_ADMIN",
            4,
        )
    if foreground:
        _foreground(driver, list(params), pm)
        return
    try:
        with _client(start=True, plugins=plugins) as c:
            extra = [p for p in plugins if not p.startswith("no:")]
            reply = _check(c.request("load", driver=driver, params=list(params), plugins=extra))
    except NetdrvError as exc:
        _fail(str(exc))
    click.echo(f"{driver}: {', '.join(reply['devices']) or 'no devices yet'}")
    desc = reply.get("description")
    if desc:
        click.echo(desc)


def _foreground(driver: str, params: list[str], pm: Any) -> None:
    from rich.live import Live

    from .daemon import Daemon

    d = Daemon(pm=pm, exit_when_empty=False)
    try:
        d.listen()
        reply = d.load(driver, params)
    except NetdrvError as exc:
        d.host.close()
        _fail(str(exc))
    click.echo(reply["description"])
    loop = d.host.loop

    live = Live(_status_table(d.handle({"cmd": "status"})), refresh_per_second=2,
                console=_console(), transient=False)  # fmt: skip

    def refresh() -> None:
        live.update(_status_table(d.handle({"cmd": "status"})))
        loop.call_later(0.5, refresh)

    loop.call_later(0.5, refresh)
    with live:
        d.run()


@cli.command()
@click.argument("driver")
def unload(driver: str) -> None:
    """Unload DRIVER: its interfaces disappear."""
    try:
        with ControlClient() as c:
            _check(c.request("unload", driver=driver))
    except DaemonNotRunning:
        _fail(f"driver {driver!r} is not loaded (no netdrv daemon in this namespace)")
    except NetdrvError as exc:
        _fail(str(exc))


def _human(n: int) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n}{unit}"
        n //= 1000
    return f"{n}P"


def _status_table(st: dict[str, Any]) -> Any:
    from rich.table import Table

    t = Table(title=f"netdrv status (daemon pid {st.get('pid')})")
    cols = ("device", "driver", "state", "carrier", "queue", "mtu", "rx pkts", "rx bytes",
            "rx err", "rx drop", "tx pkts", "tx bytes", "tx err", "tx drop")  # fmt: skip
    for c in cols:
        t.add_column(c, justify="right" if c[:2] in ("rx", "tx", "mt") else "left")
    for d in st.get("devices", []):
        s = d["stats"]
        t.add_row(
            d["name"], d["driver"] or "", d["state"],
            "[green]on[/]" if d["carrier"] else "[red]NO-CARRIER[/]",
            d["queue"], str(d["mtu"]),
            _human(s["rx_packets"]), _human(s["rx_bytes"]), str(s["rx_errors"]),
            str(s["rx_dropped"]), _human(s["tx_packets"]), _human(s["tx_bytes"]),
            str(s["tx_errors"]), str(s["tx_dropped"]),
        )  # fmt: skip
    return t


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(as_json: bool) -> None:
    """Devices, driver, state, carrier, queue and statistics (like ip -s link)."""
    try:
        with ControlClient() as c:
            st = _check(c.request("status"))
    except DaemonNotRunning:
        if as_json:
            click.echo(json.dumps({"devices": [], "drivers": [], "daemon": None}))
        else:
            click.echo("no netdrv daemon in this network namespace (nothing loaded)")
        return
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    con = _console()
    con.print(_status_table(st))
    for drv in st.get("drivers", []):
        con.print(f"[bold]{drv['name']}[/]: {drv['description']}")


@cli.command()
@click.argument("dev")
@click.option("-w", "--write", "path", required=True, type=click.Path(dir_okay=False),
              help="pcap file to write")  # fmt: skip
@click.option("-c", "--count", default=0, type=click.IntRange(min=0),
              help="stop after N frames (0: until Ctrl-C)")  # fmt: skip
def capture(dev: str, path: str, count: int) -> None:
    """Capture frames of DEV (both directions, as the driver sees them) into a pcap file."""
    try:
        c = ControlClient(timeout=None)
    except DaemonNotRunning:
        _fail(f"no netdrv daemon in this namespace: {dev!r} is not a netdrv device")
    reply = c.request("capture", dev=dev, count=count)
    _check(reply)
    _check(c.read_message())
    # The file is created by the user, with safe permissions, never by the daemon.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    frames = 0
    try:
        with os.fdopen(fd, "wb") as f:
            while True:
                data = c.read_raw()
                if not data:
                    break
                f.write(data)
                f.flush()
    except KeyboardInterrupt:
        pass
    finally:
        c.close()
    click.echo(f"wrote {path}" + (f" ({count} frames requested)" if count else ""), err=True)
    del frames


@cli.command()
def stop() -> None:
    """Unload every driver and stop this namespace's daemon."""
    try:
        with ControlClient() as c:
            _check(c.request("stop"))
    except DaemonNotRunning:
        click.echo("no netdrv daemon in this network namespace")
        return
    # Wait until the socket is gone so a following load starts a fresh daemon.
    for _ in range(100):
        try:
            ControlClient(timeout=1).close()
        except DaemonNotRunning:
            return
        time.sleep(0.05)


@cli.command(name="set", context_settings={"ignore_unknown_options": True})
@click.argument("dev")
@click.argument("settings", nargs=-1)
def set_cmd(dev: str, settings: tuple[str, ...]) -> None:
    """Driver settings with no ip-link equivalent: irq=N, base_addr=N, ioctl=N[:VALUE]."""
    ifmap: dict[str, int] = {}
    req: dict[str, Any] = {"dev": dev}
    for s in settings:
        k, sep, v = s.partition("=")
        if not sep:
            _fail(f"setting {s!r} is not name=value")
        if k == "ioctl":
            num, _, val = v.partition(":")
            req["ioctl"] = int(num, 0)
            if val:
                req["data"] = int(val, 0)
        elif k in ("irq", "base_addr", "mem_start", "mem_end", "dma", "port"):
            ifmap[k] = int(v, 0)
        else:
            _fail(f"unknown setting {k!r}: irq, base_addr, mem_start, mem_end, dma, port, ioctl")
    if ifmap:
        req["ifmap"] = ifmap
    try:
        with ControlClient() as c:
            reply = c.request("set", **req)
    except DaemonNotRunning:
        _fail("no netdrv daemon in this network namespace")
    if not reply.get("ok"):
        _fail(f"{dev}: {reply.get('error') or reply.get('result')}")
    click.echo(json.dumps(reply.get("result")))


class _PluginCommands(click.Group):
    """Lets plugins add commands (``netdrv_cli_commands``) without slowing the built-ins."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    cmd = next((a for a in args if not a.startswith("-")), None)
    if cmd is not None and cmd not in cli.commands:
        # Unknown to the core: maybe a plugin command (e.g. linktest); load plugins to ask.
        try:
            pm = _plugin_manager(())
            pm.load_all()
            pm.call_guarded("netdrv_cli_commands", cli=cli)
        except Exception as exc:  # never let a plugin break the CLI
            click.echo(f"netdrv: warning: plugins could not add commands: {exc}", err=True)
    cli.main(args=args, prog_name="netdrv")


if __name__ == "__main__":
    main()
