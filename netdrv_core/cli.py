"""The ``netdrv`` command line.

``netdrv load DRIVER [name=value …]`` works like ``modprobe``: it starts this
network namespace's daemon if needed, loads the driver in it and returns once
the interfaces exist.  ``unload``, ``status``, ``capture``, ``stop`` talk to
that daemon; ``drivers`` reads plugin metadata only.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NoReturn, TypeVar

import click

from .control import (
    DEFAULT_TIMEOUT,
    IFMAP_TYPES,
    IOCTL_MAX,
    MAX_TIMEOUT,
    ControlClient,
    DaemonBusy,
    DaemonClosed,
    DaemonNotRunning,
    DaemonProcess,
    ifmap_range_error,
)
from .control import has_net_admin as _has_net_admin
from .errors import NetdrvError, ParameterError

__all__ = ["main"]

_T = TypeVar("_T")


def _console() -> Any:
    from rich.console import Console

    # Pipes and CI logs get a wide table instead of 80 columns of ellipses.
    return Console(width=None if sys.stdout.isatty() else 160)


def _fail(msg: str, code: int = 1) -> NoReturn:
    click.echo(f"netdrv: {msg}", err=True)
    sys.exit(code)


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
    """Start this namespace's daemon in the background and wait until it listens.

    A daemon started so exits by itself if this command never uses it (killed before its
    request is sent): ``--unused-exit``, :data:`~netdrv_core.daemon.UNUSED_EXIT`."""
    import subprocess  # here, not at import: only starting the daemon needs it

    from .daemon import UNUSED_EXIT, log_path, open_log

    try:
        path = log_path()
        logfd = open_log(path)  # never world-writable, whatever the umask; no symlinks followed
    except (OSError, NetdrvError) as exc:
        _fail(f"cannot open the daemon's log: {exc}")
    r, w = os.pipe()
    # A long-running daemon whose threads come and go (serial reconnects, USB replugs):
    # with glibc's default of one malloc arena per thread its RSS creeps up by an arena
    # now and then.  Two arenas are plenty for a process that runs Python under one GIL.
    env = {"MALLOC_ARENA_MAX": "2", **os.environ}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "netdrv_core.daemon", "--ready-fd", str(w),
             "--log-file", path, "--unused-exit", str(UNUSED_EXIT), *_daemon_args(plugins)],
            stdin=subprocess.DEVNULL, stdout=logfd, stderr=logfd, pass_fds=(w,),
            start_new_session=True, close_fds=True, env=env,
        )  # fmt: skip
    finally:
        os.close(logfd)
    os.close(w)
    deadline = time.monotonic() + timeout
    import select

    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.1)
            if ready:
                if os.read(r, 1):
                    return
                break
            if proc.poll() is not None:
                break
    finally:
        os.close(r)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1.0)  # it closed the pipe as it exits: its status says why
    code = proc.poll()
    # Another netdrv command may have started this namespace's daemon first (two
    # loads at once): then ours could not bind the socket, and the other one serves.
    try:
        ControlClient(timeout=_timeout()).close()
        return
    except NetdrvError:
        pass
    tail = ""
    try:
        with open(path, errors="replace") as f:
            tail = "".join(f.readlines()[-5:])
    except OSError:
        pass
    _fail(f"the daemon did not start (exit status {code}); its log {path} says:\n{tail}")


def _timeout() -> float:
    """The ``--timeout`` of this invocation (``NETDRV_TIMEOUT``; default 30 s)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    value = (obj or {}).get("timeout")
    if value is None:  # before click parsed the command line (plugin commands): the env only
        try:
            value = float(os.environ.get("NETDRV_TIMEOUT") or DEFAULT_TIMEOUT)
        except ValueError:
            value = DEFAULT_TIMEOUT
    # Out of range (or NaN, which no comparison admits): click reports it once it parses.
    return value if 0 < value <= MAX_TIMEOUT else DEFAULT_TIMEOUT


def _from_env(ctx: click.Context | None, param: click.Parameter | None, message: str) -> str:
    """``message`` about ``--timeout``, naming NETDRV_TIMEOUT when the value came from it
    (click's "Invalid value for '--timeout'" alone points at an option nobody gave)."""
    if ctx is None or param is None or param.name is None:
        return message
    if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.ENVIRONMENT:
        return message
    return (f"{message} (from the environment: NETDRV_TIMEOUT="
            f"{os.environ.get('NETDRV_TIMEOUT', '')}; give it a number of seconds, "
            f"0<x<={MAX_TIMEOUT:g}, or unset it)")  # fmt: skip


class _Seconds(click.FloatRange):
    """``--timeout``'s type: its errors name NETDRV_TIMEOUT when the value came from it."""

    def fail(
        self, message: str, param: click.Parameter | None = None, ctx: click.Context | None = None
    ) -> NoReturn:
        super().fail(_from_env(ctx, param, message), param, ctx)


def _check_timeout(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """``--timeout``: FloatRange lets NaN through (it compares false to both bounds)."""
    if value is not None and math.isnan(value):
        raise click.BadParameter(_from_env(ctx, param, "nan is not a number of seconds."),
                                 ctx, param)  # fmt: skip
    return value


def _client(start: bool = False, plugins: tuple[str, ...] = ()) -> ControlClient:
    try:
        return ControlClient(timeout=_timeout())
    except DaemonNotRunning:
        if not start:
            raise
    start_daemon(plugins)
    return ControlClient(timeout=_timeout())


def _importing(modules: list[str]) -> str:
    """What a deadline on loading the ``-p`` modules and hook plugins says hung."""
    if not modules:
        return "importing the hook plugins"
    names = ", ".join(repr(m) for m in modules)
    return f"importing plugin{'s' if len(modules) > 1 else ''} {names}"


@contextlib.contextmanager
def _deadline(seconds: float, what: str) -> Iterator[None]:
    """Give up on plugin code in this process (an import that hangs) after ``seconds``.

    SIGALRM interrupts a sleeping or looping plugin with a :class:`NetdrvError`
    that says what hung; only the main thread can take signals, elsewhere this
    does nothing.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum: int, _frame: Any) -> None:
        raise NetdrvError(
            f"{what} did not finish within {seconds:g} s: the plugin hangs (give it longer with "
            f"netdrv --timeout SECONDS, or disable it with netdrv -p no:NAME)"
        )

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _check(reply: dict[str, Any]) -> dict[str, Any]:
    if not reply.get("ok"):
        _fail(str(reply.get("error", "the daemon refused the request")))
    return reply


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netdrv", prog_name="netdrv")
@click.option("-p", "plugins", multiple=True, metavar="no:NAME|MODULE",
              help="disable a plugin (no:NAME) or load an extra plugin module")  # fmt: skip
# At most a day: socket.settimeout and setitimer overflow on inf or 1e300.
@click.option("--timeout", type=_Seconds(min=0, min_open=True, max=MAX_TIMEOUT),
              default=None, envvar="NETDRV_TIMEOUT", metavar="SECONDS", callback=_check_timeout,
              help=f"give up waiting for the daemon (or a plugin) after SECONDS "
                   f"(default {DEFAULT_TIMEOUT:g}; env NETDRV_TIMEOUT)")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, plugins: tuple[str, ...], timeout: float | None) -> None:
    """netdrv — write, load and test network drivers in Python."""
    ctx.obj = {"plugins": plugins, "timeout": timeout}


@cli.command()
@click.option("-v", "--verbose", is_flag=True,
              help="show each driver's parameters and each plugin's hooks (imports them)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def drivers(ctx: click.Context, verbose: bool, as_json: bool) -> None:
    """List installed drivers and plugins (reads metadata; imports nothing unless --verbose)."""
    import contextlib

    pm = _plugin_manager(ctx.obj["plugins"])
    if verbose:
        # The hook plugins and -p modules, which load with every driver: a failure is
        # listed with its plugin below. A plugin printing while it is imported must not
        # corrupt --json output.
        with contextlib.suppress(NetdrvError), contextlib.redirect_stdout(sys.stderr), \
                _deadline(_timeout(), _importing([])):  # fmt: skip
            pm.load_hook_plugins()
    rows = []
    for info in pm.list_drivers():
        if info.distribution == "(-p)":
            continue  # listed with the plugins: loaded with every driver, whatever it offers
        row: dict[str, Any] = {
            "name": info.name, "kind": "driver", "distribution": info.distribution,
            "version": info.version, "summary": info.summary, "disabled": info.disabled,
        }  # fmt: skip
        if info.problem:  # seen in the metadata: the plugin cannot load
            row["error"] = info.problem
        elif verbose and not info.disabled:
            try:
                with (
                    contextlib.redirect_stdout(sys.stderr),
                    _deadline(_timeout(), f"importing plugin {info.name!r}"),
                ):
                    row["parameters"] = [p.describe() for p in pm.driver_parameters(info.name)]
            except NetdrvError as exc:
                row["error"] = str(exc)
        rows.append(row)
    for plug in pm.list_plugins():
        row = {
            "name": plug.name, "kind": plug.kind, "distribution": plug.distribution,
            "version": plug.version, "summary": plug.summary, "disabled": plug.disabled,
        }  # fmt: skip
        if plug.problem:  # in the metadata, or the error of loading it just now (--verbose)
            row["error"] = plug.problem
        elif verbose and not plug.disabled:
            row["hooks"] = list(plug.hooks)
            row["drivers"] = list(plug.drivers)
            if len(plug.drivers) == 1:
                with contextlib.suppress(NetdrvError), contextlib.redirect_stdout(sys.stderr):
                    decl = pm.driver_parameters(plug.drivers[0], hook_plugins=False)
                    row["parameters"] = [p.describe() for p in decl]
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    def table(title: str, first: str, kinds: tuple[str, ...]) -> Any:
        t = Table(title=title)
        for col in (first, "distribution", "version", "summary"):
            t.add_column(col)
        for r in rows:  # third-party text is escaped: a "[" in it is not rich markup
            if r["kind"] not in kinds:
                continue
            summary = escape(r["summary"]) + (" [dim](disabled)[/]" if r["disabled"] else "")
            if "error" in r:
                summary += f"\n[red]broken: {escape(r['error'])}[/]"
            if r.get("hooks"):
                summary += f"\n  hooks: {escape(', '.join(r['hooks']))}"
            if r.get("drivers"):
                summary += f"\n  drivers: {escape(', '.join(r['drivers']))}"
            if "parameters" in r:
                summary += "\n" + "\n".join(f"  [cyan]{escape(p)}[/]" for p in r["parameters"])
            t.add_row(escape(r["name"]), escape(r["distribution"]), escape(r["version"]), summary)
        return t

    _console().print(table("netdrv drivers", "driver", ("driver",)))
    if any(r["kind"] != "driver" for r in rows):
        _console().print(table("plugins loaded with every driver", "plugin", ("plugin", "module")))


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
        from .driver import check_instance, split_instance
        from .params import check_params_error, name_failed_plugins, parse_params

        base = split_instance(driver)[0]  # slip:b, a second instance of slip
        with _deadline(_timeout(), _importing(pm.extra)):
            # Every -p module must load (a typo is an error), and their hooks (a
            # middleware's parameters) apply to this driver as in the daemon.
            failed = pm.load_hook_plugins(required=pm.extra)
        with _deadline(_timeout(), f"importing plugin {base!r}"):
            decl = pm.driver_parameters(base, hook_plugins=False)
        try:
            checked = parse_params(driver, decl, params)
        except ParameterError as exc:  # a hook plugin that failed may be what adds it
            raise name_failed_plugins(exc, decl, params, failed) from None
        cls = pm.get_driver(base, hook_plugins=False)
        check_instance(cls, driver)
        check_params = cls.check_params
    except NetdrvError as exc:
        _fail(str(exc), 2)
    try:
        with _deadline(_timeout(), f"driver {driver!r} checking its parameters"):
            check_params(checked)  # rules between parameters, before a daemon starts
    except ParameterError as exc:
        _fail(str(check_params_error(driver, exc)), 2)
    except NetdrvError as exc:
        _fail(str(exc), 2)
    except Exception:  # the driver's bug: the daemon runs it again and reports it
        pass
    if not _has_net_admin():
        how = (
            "this root has not got it (a container needs --cap-add NET_ADMIN)"
            if os.geteuid() == 0
            else "run as root (sudo netdrv load …)"
        )
        _fail(
            f"loading a driver creates kernel interfaces, which needs CAP_NET_ADMIN: {how}, or "
            "see docs/troubleshooting.md for running the daemon with only CAP_NET_ADMIN",
            4,
        )
    if foreground:
        _foreground(driver, list(params), pm)
        return
    try:
        extra = [p for p in plugins if not p.startswith("no:")]
        disabled = [p[3:] for p in plugins if p.startswith("no:")]
        reply = _check(_ask_load(plugins, {"driver": driver, "params": list(params),
                                           "plugins": extra, "disabled": disabled}))  # fmt: skip
    except NetdrvError as exc:
        _fail(str(exc))
    click.echo(f"{driver}: {', '.join(reply['devices']) or 'no devices yet'}")
    desc = reply.get("description")
    if desc:
        click.echo(desc)


def _ask_load(plugins: tuple[str, ...], req: dict[str, Any]) -> dict[str, Any]:
    """The ``load`` request to this namespace's daemon, started if needed (see
    :func:`_ask_once_more`; an exiting daemon may also refuse the load its exit would
    undo, and the load is then asked of a fresh one)."""
    return _ask_once_more(lambda: _client(start=True, plugins=plugins), "load", req)


def _ask_once_more(
    client: Callable[[], ControlClient], cmd: str, req: dict[str, Any]
) -> dict[str, Any]:
    """Ask the daemon ``cmd``; once more, on a new connection, if it was exiting.

    A daemon exiting as the request came (its last driver was just unloaded by another
    command) closes the connection unanswered, or refuses a load as ``DaemonExiting``;
    it has stopped listening by then, so the second request finds no daemon, a newer
    one, or (``client`` starting one) a fresh one.
    """
    try:
        with client() as c:
            reply = c.request(cmd, **req)
        if reply.get("kind") != "DaemonExiting":
            return reply
    except DaemonClosed:
        pass
    with client() as c:
        return c.request(cmd, **req)


def _once_more(ask: Callable[[], _T]) -> _T:
    """``ask()`` — it connects, then asks — and once more if the daemon closed the
    connection unanswered, as an exiting one does (see :func:`_ask_once_more`): the second
    finds no daemon (:class:`DaemonNotRunning`, the command's own answer for that case), or
    the one that took over."""
    try:
        return ask()
    except DaemonClosed:
        return ask()


def _foreground(driver: str, params: list[str], pm: Any) -> None:
    import logging  # here, not at import: no other command needs it

    from rich.live import Live

    from .daemon import Daemon

    # Messages reach the terminal through logging's last resort, which shows warnings
    # only: let it show what netdrv's loggers' level (netdrv sysctl loglevel=N) admits.
    if logging.lastResort is not None:
        logging.lastResort.setLevel(logging.NOTSET)
    d = Daemon(pm=pm, exit_when_empty=False)
    try:
        d.listen()
        reply = d.load(driver, params)
    except NetdrvError as exc:
        d.host.close()
        _fail(str(exc))
    click.echo(reply["description"])
    loop = d.host.loop

    def status() -> dict[str, Any]:
        st = d.handle({"cmd": "status"})
        assert st is not None  # "status" always answers (only "capture" does not)
        return st

    live = Live(_status_table(status()), refresh_per_second=2, console=_console(),
                transient=False)  # fmt: skip

    def refresh() -> None:
        live.update(_status_table(status()))
        loop.call_later(0.5, refresh)

    loop.call_later(0.5, refresh)
    with live:
        d.run()


@cli.command()
@click.argument("driver")
def unload(driver: str) -> None:
    """Unload DRIVER: its interfaces disappear."""
    procs: list[DaemonProcess] = []
    with contextlib.ExitStack() as held:  # every pidfd closed, also as _fail exits

        def client() -> ControlClient:
            c = _client()
            # The daemon the last unload ends: waited for below.
            procs.append(held.enter_context(c.process()))
            return c

        try:  # asked again if the daemon was exiting (netdrv stop): now none, or a new one
            reply = _check(_ask_once_more(client, "unload", {"driver": driver}))
        except DaemonNotRunning:
            _fail(f"driver {driver!r} is not loaded (no netdrv daemon in this namespace)")
        except NetdrvError as exc:
            _fail(str(exc))
        if reply.get("warning"):  # unloaded, but the driver's exit raised
            click.echo(f"netdrv: warning: {reply['warning']}", err=True)
        if reply.get("exiting"):  # its last driver: `unload && …` must find no daemon process
            _wait_exit(procs[-1], f"{driver} is unloaded, but the daemon{_pid_of(procs[-1])}, "
                                  f"exiting as it holds no other driver,")  # fmt: skip


def _human(n: int) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n}{unit}"
        n //= 1000
    return f"{n}P"


def _rate(x: float) -> str:
    """A rate as ifstat shows one: 950, 12.3K, 1.20M."""
    for unit in ("", "K", "M", "G"):
        if x < 999.5:
            return f"{x:.0f}{unit}" if not unit else f"{x:.3g}{unit}"
        x /= 1000
    return f"{x:.3g}T"


def _state_text(d: dict[str, Any]) -> str:
    """The state column: up/down, detached, or testing while ``ethtool -t`` runs."""
    oper = d.get("operstate")
    if oper == "notpresent":
        return "[red]detached[/]"
    return "[yellow]testing[/]" if oper == "testing" else str(d["state"])


def _status_table(st: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"netdrv status (daemon pid {st.get('pid')})")
    cols = ("device", "driver", "state", "carrier", "queue", "mtu", "rx pkts", "rx bytes",
            "rx err", "rx drop", "tx pkts", "tx bytes", "tx err", "tx drop")  # fmt: skip
    for c in cols:
        t.add_column(c, justify="right" if c[:2] in ("rx", "tx", "mt") else "left")
    for d in st.get("devices", []):
        s = d["stats"]
        t.add_row(  # names come from drivers and `ip link set … name`: "[red]" is no markup
            escape(d["name"]), escape(d.get("instance") or d["driver"] or ""),
            _state_text(d),
            "[green]on[/]" if d["carrier"] else "[red]NO-CARRIER[/]",
            d["queue"], str(d["mtu"]),
            _human(s["rx_packets"]), _human(s["rx_bytes"]), str(s["rx_errors"]),
            str(s["rx_dropped"]), _human(s["tx_packets"]), _human(s["tx_bytes"]),
            str(s["tx_errors"]), str(s["tx_dropped"]),
        )  # fmt: skip
    return t


def _rates_table(st: dict[str, Any], rates: dict[str, Any]) -> Any:
    """``status --watch``: packets and bits per second per device, and the error counters;
    headers on two lines, so that it fits an 80-column terminal."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"netdrv status (daemon pid {st.get('pid')})", box=box.SIMPLE_HEAD)
    for c in ("device", "state", "rx\npkt/s", "rx\nbit/s", "tx\npkt/s", "tx\nbit/s", "rx\nerr",
              "rx\ndrop", "tx\nerr", "tx\ndrop"):  # fmt: skip
        t.add_column(c, justify="left" if c[:2] in ("de", "st") else "right")
    for d in st.get("devices", []):
        s = d["stats"]
        state = _state_text(d)
        if not d["carrier"]:
            state += " [red]NO-CARRIER[/]"
        r = rates.get(d["name"])  # none yet: the first refresh, or a device just created
        t.add_row(escape(d["name"]), state,
                  *([_rate(r[k]) for k in ("rx_pps", "rx_bps", "tx_pps", "tx_bps")] if r
                    else ["-"] * 4),
                  str(s["rx_errors"]), str(s["rx_dropped"]), str(s["tx_errors"]),
                  str(s["tx_dropped"]))  # fmt: skip
    return t


def _ask_status() -> dict[str, Any]:
    """The daemon's ``status`` reply (:class:`DaemonNotRunning` when there is none), asked
    once more of a daemon that was exiting (:func:`_ask_once_more`)."""
    return _ask_once_more(_client, "status", {})


def _status_now() -> dict[str, Any] | None:
    """The daemon's status answer, or None when no daemon runs in this namespace."""
    try:
        return _check(_ask_status())
    except DaemonNotRunning:
        return None
    except NetdrvError as exc:
        _fail(str(exc))


def _watch(as_json: bool, interval: float, count: int | None) -> None:
    """``netdrv status --watch``: refresh every ``interval`` s, with rates, until Ctrl-C."""
    from rich.live import Live
    from rich.text import Text

    from .status import link_rates

    live = None
    if not as_json and sys.stdout.isatty():
        live = Live(Text(""), console=_console(), auto_refresh=False)
        live.start()
    prev: dict[str, Any] | None = None
    t_prev = 0.0
    n = 0
    try:
        while True:
            st = _status_now()
            now = time.monotonic()
            rates = link_rates(prev, st, now - t_prev) if prev and st else {}
            prev, t_prev = st, now
            if as_json:
                # The same keys on every line, daemon or not: "daemon" and "pid" are its pid.
                line = st or {"devices": [], "drivers": []}
                line["pid"] = line["daemon"] = st.get("pid") if st else None
                for d in line["devices"]:
                    d["rates"] = rates.get(d["name"])
                click.echo(json.dumps({"time": time.time(), **line}, separators=(",", ":")))
                sys.stdout.flush()
            else:
                view: Any = (_rates_table(st, rates) if st is not None else
                             Text("no netdrv daemon in this network namespace (nothing loaded)"))  # fmt: skip
                if live is not None:
                    live.update(view, refresh=True)
                else:  # through click: rich would exit 1 on a closed pipe (`| head` is no error)
                    con = _console()
                    with con.capture() as cap:
                        con.print(view)
                    click.echo(cap.get(), nl=False)
                    sys.stdout.flush()
            n += 1
            if count is not None and n >= count:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - now)))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:  # `| head`: the reader has had enough; no error on the final flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        if live is not None:
            live.stop()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.option("-w", "--watch", "interval", type=click.FloatRange(0.1, 3600), default=None,
              metavar="SECONDS", help="refresh every SECONDS with packets/s and bit/s per "
              "device, until Ctrl-C (with --json: one JSON line per refresh)")  # fmt: skip
@click.option("-c", "--count", type=click.IntRange(min=1), default=None,
              help="with --watch: stop after COUNT refreshes")  # fmt: skip
def status(as_json: bool, interval: float | None, count: int | None) -> None:
    """Devices, driver, state, carrier, queue and statistics (like ip -s link)."""
    if interval is not None:
        _watch(as_json, interval, count)
        return
    if count is not None:
        raise click.UsageError("--count counts refreshes: give --watch SECONDS as well")
    try:
        st = _check(_ask_status())
    except DaemonNotRunning:
        if as_json:
            click.echo(json.dumps({"devices": [], "drivers": [], "daemon": None}))
        else:
            click.echo("no netdrv daemon in this network namespace (nothing loaded)")
        return
    except NetdrvError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    from rich.markup import escape

    con = _console()
    con.print(_status_table(st))
    for d in st.get("devices", []):  # what netdrv faults DEV shows: settings and counters
        if fi := d.get("fault_injector"):
            from .netem_words import faults_text

            con.print(escape(faults_text(d["name"], {"faults": fi["settings"],
                                                     "stats": fi["stats"],
                                                     "directions": fi.get("directions")})),
                      markup=True, highlight=False, soft_wrap=True)  # fmt: skip
    for drv in st.get("drivers", []):
        # A driver's description and fault messages are its text, not rich markup: a
        # "[/…]" in them would raise, a "[red]" vanish.
        name = escape(drv["name"])
        con.print(f"[bold]{name}[/]: {escape(str(drv['description']))}", markup=True,
                  highlight=False)  # fmt: skip
        if drv.get("faults"):
            # Its devices went down (see the table): say why, and how to recover.
            # soft_wrap: a terminal wraps the long line, rich would break it mid-word.
            con.print(f"  [red]{drv['faults']} fault(s)[/], last: "
                      f"{escape(str(drv.get('last_fault')))} — the device was taken down; "
                      f"`netdrv unload {name}` and load it again, or see the daemon log",
                      markup=True, highlight=False, soft_wrap=True)  # fmt: skip


def _write_all(f: Any, data: bytes) -> None:
    """``f.write(data)`` until all of it is out: a signal that interrupts a write to a pipe
    makes a buffered file's ``write`` return short (the handler returned, nothing raised)."""
    view = memoryview(data)
    while view:
        n = f.write(view)
        if n is None:  # a file object that does not say: it wrote everything
            return
        view = view[n:]


@cli.command()
@click.argument("dev")
@click.option("-w", "--write", "path", required=True,
              type=click.Path(dir_okay=False, allow_dash=True),
              help="pcap file to write (- for standard output, like tcpdump -w -)")  # fmt: skip
@click.option("-c", "--count", default=0, type=click.IntRange(min=0),
              help="stop after N frames (0: until Ctrl-C)")  # fmt: skip
def capture(dev: str, path: str, count: int) -> None:
    """Capture frames of DEV (both directions, as the driver sees them) into a pcap file."""
    from .phy.pcap import PcapStreamSplitter, open_capture_file

    def ask() -> tuple[ControlClient, dict[str, Any]]:
        c = ControlClient(timeout=_timeout())  # a daemon too busy to accept: DaemonBusy
        try:
            return c, c.request("capture", dev=dev, count=count)
        except BaseException:
            c.close()
            raise

    try:  # asked again if the daemon was exiting: now none (DEV went with it), or a new one
        c, reply = _once_more(ask)
    except DaemonNotRunning:
        _fail(f"no netdrv daemon in this network namespace: {dev!r} is not a netdrv device")
    except NetdrvError as exc:
        _fail(str(exc))
    try:
        started = _check(reply)
        c.sock.settimeout(None)  # then stream until the daemon ends it (or Ctrl-C)
    except NetdrvError as exc:
        c.close()
        _fail(str(exc))
    to_stdout = path == "-"
    where = "standard output" if to_stdout else path
    # Created by the user, never by the daemon, once the capture runs (a typo in DEV
    # clobbers no file): mode 0600, and a symlink at PATH is refused, not followed.
    try:
        f = sys.stdout.buffer if to_stdout else open_capture_file(path)
    except OSError as exc:
        c.close()
        _fail(exc.strerror or str(exc))  # it names the file and why, without "[Errno N]"
    click.echo(f"capturing on {dev} (both directions) into {where}", err=True)
    # Whole records only: a file ending in a cut record is one tcpdump refuses ("truncated
    # dump file").  The stream is read in chunks that end anywhere (records splits them),
    # and Ctrl-C or SIGTERM during a write (blocked on a slow pipe reader) waits for its end:
    # raised there, it would leave part of the write out.  A second one stops at once.
    records = PcapStreamSplitter()
    writing = stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not writing or stopping:
            raise KeyboardInterrupt
        stopping = True

    old_handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    ended = False  # by the daemon, not by this command (Ctrl-C, a reader gone)
    try:
        while not stopping:
            try:
                data = c.read_raw()
            except OSError:  # the daemon went away (killed): what arrived is written
                ended = True
                break
            if not data:
                ended = True
                break
            data = records.feed(data)
            if data:
                writing = True
                try:
                    _write_all(f, data)
                    f.flush()
                finally:
                    writing = False
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader of standard output has had enough (`| head -c 100`): the capture
        # ends as with Ctrl-C.  Python's final flush of stdout must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:  # a full disk, a file system gone read-only, …
        _fail(f"cannot write capture file {where}: {exc.strerror or exc}; the capture stopped")
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        c.close()
        if not to_stdout:
            with contextlib.suppress(OSError):  # the error, if any, was reported above
                f.close()
    frames = records.records
    click.echo(f"wrote {where} ({frames} frame{'' if frames == 1 else 's'})", err=True)
    if ended and frames < (count or frames + 1):
        # The daemon ended it first, short of -c N or of the Ctrl-C that was to end it:
        # say why and exit 1, as tcpdump does with "The interface disappeared".
        asked = f" of the {count} requested" if count else ""
        click.echo(f"netdrv: the capture ended after {frames} frame{'' if frames == 1 else 's'}"
                   f"{asked}: {_capture_end_reason(dev, started.get('ifindex'))}",
                   err=True)  # fmt: skip
        sys.exit(1)


def _capture_end_reason(dev: str, ifindex: int | None) -> str:
    """Why the daemon ended a capture of ``dev`` (``ifindex``, when the daemon gave it)
    before it was asked to stop: the device is gone (even if one of its name came back, a
    USB adapter plugged in again), the daemon stopped, or it cut off a stalled reader."""
    try:
        reply = _ask_status()  # a daemon exiting: asked again, none runs
    except DaemonNotRunning:
        return "the daemon stopped"
    except (NetdrvError, OSError):
        return "the daemon ended it (see netdrv log)"
    devices = reply.get("devices", [])
    if ifindex is not None:
        there = any(d.get("ifindex") == ifindex for d in devices)
    else:
        there = dev in {d.get("name") for d in devices}
    if not there:
        return f"{dev} was unregistered (unplugged or unloaded)"
    return "the daemon ended it: a reader that takes nothing for 2 s is cut off (see netdrv log)"


@cli.command()
def stop() -> None:
    """Unload every driver and stop this namespace's daemon."""
    with contextlib.ExitStack() as held:  # the pidfd closed, also as _fail exits
        try:
            with _client() as c:
                # Taken before the stop: the process may be gone by its reply.
                proc = held.enter_context(c.process())
                try:
                    _check(c.request("stop"))
                except DaemonClosed:
                    pass  # it was exiting already (another netdrv stop, the last unload): wait
        except DaemonNotRunning:
            click.echo("no netdrv daemon in this network namespace")
            return
        except NetdrvError as exc:
            _fail(str(exc))
        _wait_exit(proc, f"the daemon{_pid_of(proc)} took the stop but")


def _pid_of(proc: DaemonProcess) -> str:
    """`` (pid N)``, or nothing for a daemon whose pid is not known here."""
    return f" (pid {proc.pid})" if proc.pid else ""


def _wait_exit(proc: DaemonProcess, what: str) -> None:
    """Return once the daemon process ``proc`` has exited — its interfaces, ports and
    control socket gone with it — or fail, saying ``what`` "still runs", after ``--timeout``."""
    timeout = _timeout()
    gone = proc.wait(timeout)
    if gone is None:
        # No pidfd: Linux < 5.3, pidfd_open blocked (a seccomp filter), or no pid to open
        # (the daemon in another pid namespace, whose SO_PEERCRED pid is 0) and no
        # SO_PEERPIDFD (Linux < 6.5).  Wait until its control socket is gone instead: the
        # process may still be ending then.
        deadline = time.monotonic() + timeout
        while not gone and time.monotonic() < deadline:
            try:
                ControlClient(timeout=0.5).close()
            except DaemonNotRunning:
                gone = True
            except DaemonBusy:
                pass  # still there, stuck in its shutdown (its connection queue is full)
            if not gone:
                time.sleep(0.05)
    if gone:
        return
    # Not a silent success: the next load would meet this daemon, still unloading.
    if proc.pid:
        kill = (f"`kill {proc.pid}` (SIGTERM) aborts a hung driver call and exits; "
                f"`kill -9 {proc.pid}` ends it in any case")  # fmt: skip
    else:
        kill = ("its pid is not visible from here (another pid namespace): `kill -9` the "
                "`netdrv_core.daemon` process where it runs")  # fmt: skip
    _fail(f"{what} still runs after {timeout:g} s: a driver's exit may hang (`netdrv log` "
          f"shows what the daemon is busy in, once its watchdog has reported it); {kill}")  # fmt: skip


_SET_NAMES = (
    "irq, base_addr, mem_start, mem_end, dma, port, ioctl, bql_limit_max, "
    "bql_limit_min, bql_hold_time"
)


@cli.command(name="set", context_settings={"ignore_unknown_options": True})
@click.argument("dev")
@click.argument("settings", nargs=-1)
def set_cmd(dev: str, settings: tuple[str, ...]) -> None:
    """Driver settings with no ip-link equivalent: irq=N, base_addr=N, ioctl=N[:VALUE];
    bql_limit_max=N|max, bql_limit_min=N, bql_hold_time=MS (sysfs byte_queue_limits)."""
    if not settings:  # a missing argument, as click says of DEV (the daemon's words are its own)
        raise click.UsageError(f"give at least one setting: {_SET_NAMES}")
    ifmap: dict[str, int] = {}
    bql: dict[str, int | str] = {}
    req: dict[str, Any] = {"dev": dev}

    def number(text: str, setting: str) -> int:
        try:
            return int(text, 0)
        except ValueError:
            _fail(f"setting {setting!r}: {text!r} is not a number (decimal, or 0x… for hex)")

    for s in settings:
        k, sep, v = s.partition("=")
        if not sep:
            _fail(f"setting {s!r} is not name=value")
        if k == "ioctl":
            num, _, val = v.partition(":")
            req["ioctl"] = number(num, s)
            if not 0 <= req["ioctl"] <= IOCTL_MAX:
                _fail(f"setting {s!r}: an ioctl request number is 0..{IOCTL_MAX} "
                      f"(private ioctls: 0x89f0..0x89ff)")  # fmt: skip
            if val:
                req["data"] = number(val, s)
        elif k in IFMAP_TYPES:
            ifmap[k] = number(v, s)
            if (error := ifmap_range_error(k, ifmap[k])) is not None:
                _fail(f"setting {s!r}: {error}")
        elif k in ("bql_limit_max", "bql_limit_min", "bql_hold_time"):
            key = "hold_time_ms" if k == "bql_hold_time" else k[4:]
            bql[key] = "max" if v == "max" and k != "bql_hold_time" else number(v, s)
        else:
            _fail(f"unknown setting {k!r}: {_SET_NAMES}")
    if bql and (ifmap or "ioctl" in req):  # the daemon answers one kind of setting a request
        raise click.UsageError("bql_* settings go in a netdrv set command of their own "
                               "(not with irq=, base_addr=, ..., ioctl=)")  # fmt: skip
    if ifmap and "ioctl" in req:
        raise click.UsageError("ioctl= goes in a netdrv set command of its own "
                               "(not with irq=, base_addr=, ...)")  # fmt: skip
    if ifmap:
        req["ifmap"] = ifmap
    if bql:
        req["bql"] = bql
    try:  # asked again if the daemon was exiting: now none (DEV went with it), or a new one
        reply = _ask_once_more(_client, "set", req)
    except DaemonNotRunning:
        _fail("no netdrv daemon in this network namespace")
    except NetdrvError as exc:
        _fail(str(exc))
    if not reply.get("ok"):
        _fail(f"{dev}: {reply.get('error') or reply.get('result')}")
    click.echo(json.dumps(reply.get("result")))


# -- netdrv ethtool ---------------------------------------------------------------------------
# flag -> (request, is a set, long name); the real ethtool's options for what netdrv supports
# (those without a short form are keyed by their long name, with "" as the long name).
_ETHTOOL_MODES: dict[str, tuple[str, bool, str]] = {
    "-g": ("ringparam", False, "--show-ring"), "-G": ("ringparam", True, "--set-ring"),
    "-c": ("coalesce", False, "--show-coalesce"), "-C": ("coalesce", True, "--coalesce"),
    "-l": ("channels", False, "--show-channels"), "-L": ("channels", True, "--set-channels"),
    "-a": ("pauseparam", False, "--show-pause"), "-A": ("pauseparam", True, "--pause"),
    "-i": ("drvinfo", False, "--driver"), "-S": ("stats", False, "--statistics"),
    "-r": ("nway_reset", False, "--negotiate"), "-s": ("msglevel", True, "--change"),
    "-k": ("features", False, "--show-features"), "-K": ("features", True, "--features"),
    "--show-priv-flags": ("priv_flags", False, ""), "--set-priv-flags": ("priv_flags", True, ""),
    "-P": ("permaddr", False, "--show-permaddr"), "-d": ("regs", False, "--register-dump"),
    "-e": ("eeprom", False, "--eeprom-dump"), "-E": ("eeprom", True, "--change-eeprom"),
    "-t": ("test", False, "--test"), "-T": ("tsinfo", False, "--show-time-stamping"),
    "--show-eee": ("eee", False, ""), "--set-eee": ("eee", True, ""),
    "-p": ("identify", False, "--identify"),
}  # fmt: skip
# ethtool -t's one word -> struct ethtool_test's flags (ETH_TEST_FL_OFFLINE 1, _EXTERNAL_LB 8).
_TEST_MODES = {"offline": 1, "online": 0, "external_lb": 1 | 8}
# The words each mode that is no set takes (-e DEV offset N length N raw on): name -> type.
_GET_WORDS: dict[str, dict[str, type]] = {
    "eeprom": {"offset": int, "length": int, "raw": bool},
    "regs": {"raw": bool, "hex": bool},
}
_EEPROM_SET_WORDS: dict[str, type] = {"magic": int, "offset": int, "length": int, "value": int}


class _HexMask(int):
    """A keyword's value that ethtool reads as hexadecimal, the ``0x`` optional (its
    bitset parsers' ``force_hex``: ``--set-eee DEV advertise 28`` is 0x28)."""


# Keywords of the set modes -> struct field; a bool field takes on|off.
_ETHTOOL_KEYWORDS: dict[str, dict[str, tuple[str, type]]] = {
    "ringparam": {"rx": ("rx_pending", int), "rx-mini": ("rx_mini_pending", int),
                  "rx-jumbo": ("rx_jumbo_pending", int), "tx": ("tx_pending", int)},
    "coalesce": {"adaptive-rx": ("use_adaptive_rx_coalesce", bool),
                 "adaptive-tx": ("use_adaptive_tx_coalesce", bool),
                 "rx-usecs": ("rx_coalesce_usecs", int),
                 "rx-frames": ("rx_max_coalesced_frames", int),
                 "tx-usecs": ("tx_coalesce_usecs", int),
                 "tx-frames": ("tx_max_coalesced_frames", int)},
    "channels": {"rx": ("rx_count", int), "tx": ("tx_count", int),
                 "other": ("other_count", int), "combined": ("combined_count", int)},
    "pauseparam": {"autoneg": ("autoneg", bool), "rx": ("rx_pause", bool),
                   "tx": ("tx_pause", bool)},
    "eee": {"eee": ("eee_enabled", bool), "advertise": ("advertised", _HexMask),
            "tx-lpi": ("tx_lpi_enabled", bool), "tx-timer": ("tx_lpi_timer", int)},
}  # fmt: skip
_U32_MAX = 0xFFFF_FFFF


def _ethtool_value(key: str, text: str, kind: type) -> int | bool:
    if kind is bool:
        if text not in ("on", "off"):
            raise click.UsageError(f"{key}: {text!r} is not on or off")
        return text == "on"
    if kind is _HexMask:
        digits = text[2:] if text[:2].lower() == "0x" else text
        try:
            value = int(digits, 16) if digits.isascii() and digits.isalnum() else -1
        except ValueError:
            value = -1
        if not 0 <= value <= _U32_MAX:
            raise click.UsageError(f"{key}: {text!r} is not a hexadecimal mask 0..{_U32_MAX:#x} "
                                   f"(the 0x is optional)")  # fmt: skip
        return value
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value <= _U32_MAX:
        raise click.UsageError(f"{key}: {text!r} is not a number 0..{_U32_MAX}")
    return value


def _ethtool_settings(flag: str, op: str, words: tuple[str, ...]) -> dict[str, Any]:
    """``rx 512 tx 64`` -> ``{"rx_pending": 512, "tx_pending": 64}``; usage errors exit 2."""
    keywords = _ETHTOOL_KEYWORDS[op]
    if not words:
        raise click.UsageError(f"{flag} needs at least one of: {_keyword_names(keywords)}")
    values = _word_pairs(flag, {k: t for k, (_, t) in keywords.items()}, words)
    return {keywords[key][0]: value for key, value in values.items()}


def _keyword_names(keywords: dict[str, Any]) -> str:
    """``rx N, raw on|off``: the keywords and what each takes (a bool takes on|off)."""
    kinds = {k: v[1] if isinstance(v, tuple) else v for k, v in keywords.items()}
    return ", ".join(f"{k} {'on|off' if t is bool else 'N'}" for k, t in kinds.items())


def _word_pairs(
    flag: str, keywords: dict[str, type], words: tuple[str, ...], what: str = "setting"
) -> dict[str, Any]:
    """``KEY VALUE …`` -> ``{KEY: value}``, each value of its keyword's type; a keyword not
    known (called a ``what``), without a value or given twice is a usage error (exit 2)."""
    out: dict[str, Any] = {}
    for i in range(0, len(words), 2):
        key = words[i]
        if key not in keywords:
            raise click.UsageError(
                f"{flag}: unknown {what} {key!r}; expected: {_keyword_names(keywords)}"
            )
        if i + 1 >= len(words):
            raise click.UsageError(f"{flag}: {key} needs a value")
        if key in out:
            raise click.UsageError(f"{flag}: {key} given twice")
        out[key] = _ethtool_value(key, words[i + 1], keywords[key])
    return out


# ethtool -s keywords other than msglvl (the LinkSettings fields, Wake-on-LAN) -> the values
# they take.
_LINK_KEYWORDS = {"speed": "N", "duplex": "half|full", "autoneg": "on|off", "wol": "pumbagsfd",
                  "sopass": "xx:yy:zz:aa:bb:cc"}  # fmt: skip
_WOL_KEYWORDS = {"wol": "wolopts", "sopass": "sopass"}  # -s keyword -> the daemon's wol field
_CHANGE_HELP = ("speed N, duplex half|full, autoneg on|off, wol pumbagsfd, sopass "
                "xx:yy:zz:aa:bb:cc, msglvl N | msglvl TYPE on|off …")  # fmt: skip


def _is_number(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


def _change_words(
    words: tuple[str, ...],
) -> tuple[dict[str, Any], int | list[tuple[int, bool]] | None]:
    """``ethtool -s``'s words -> (link settings to change, the message level change).

    Link settings: ``speed`` (positive Mbit/s), ``duplex`` (0 half, 1 full) and
    ``autoneg`` (bool), as the daemon takes them, and Wake-on-LAN's ``wolopts`` (the
    ``WAKE_*`` bits of ``wol``'s letters) and ``sopass`` (hex); the message level: a number,
    or (bit, on) pairs for ``msglvl TYPE on|off …``, or None.  Usage errors exit 2.
    """
    from .ethtool import DUPLEX_FULL, DUPLEX_HALF

    if not words:
        raise click.UsageError(f"-s needs at least one of: {_CHANGE_HELP}")
    link: dict[str, Any] = {}
    msglvl: int | list[tuple[int, bool]] | None = None
    i = 0
    while i < len(words):
        key = words[i]
        if key == "msglvl":
            if msglvl is not None:
                raise click.UsageError("-s: msglvl given twice")
            j = i + 1
            if j < len(words) and _is_number(words[j]):
                j += 1
            else:  # TYPE on|off pairs, up to the next keyword
                while j < len(words) and words[j] not in _LINK_KEYWORDS and words[j] != "msglvl":
                    j += 2
            msglvl = _msglvl_words(words[i + 1 : j])
            i = j
            continue
        if key not in _LINK_KEYWORDS:
            raise click.UsageError(f"-s: unknown setting {key!r}; expected: {_CHANGE_HELP}")
        if i + 1 >= len(words):
            raise click.UsageError(f"-s: {key} needs a value ({_LINK_KEYWORDS[key]})")
        if key in link:
            raise click.UsageError(f"-s: {key} given twice")
        text = words[i + 1]
        if key == "autoneg":
            link[key] = _ethtool_value(key, text, bool)
        elif key in _WOL_KEYWORDS:
            link[_WOL_KEYWORDS[key]] = _wol_word(key, text)
        elif key == "duplex":
            if text not in ("half", "full"):
                raise click.UsageError(f"duplex: {text!r} is not half or full")
            link[key] = DUPLEX_HALF if text == "half" else DUPLEX_FULL
        else:
            try:
                speed = int(text, 10)
            except ValueError:
                speed = 0
            if not 0 < speed < _U32_MAX:
                raise click.UsageError(f"speed: {text!r} is not a positive number of Mb/s")
            link[key] = speed
        i += 2
    return link, msglvl


def _wol_word(key: str, text: str) -> int | str:
    """``wol pg`` -> the WAKE_* bits (``d``: none), as ethtool's letters; ``sopass
    01:02:03:04:05:06`` -> ``"010203040506"``.  Anything else is a usage error."""
    from .ethtool import SOPASS_MAX, WOL_MODE_CHARS

    if key == "sopass":
        parts = text.split(":")
        if len(parts) != SOPASS_MAX or not all(
            len(p) in (1, 2) and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
        ):
            raise click.UsageError(f"-s: sopass {text!r} is not {SOPASS_MAX} hex bytes "
                                   f"xx:yy:zz:aa:bb:cc")  # fmt: skip
        return "".join(p.zfill(2) for p in parts)
    bad = [c for c in text if c not in WOL_MODE_CHARS + "d"]
    if bad or not text:
        raise click.UsageError(f"-s: wol {text!r}: modes are letters of {WOL_MODE_CHARS} "
                               f"(p phy, u ucast, m mcast, b bcast, a arp, g magic, s magicsecure, "
                               f"f filter), or d to disable")  # fmt: skip
    # ethtool's parse_char_bitset: d (the reset character) drops the modes before it
    modes = text.rpartition("d")[2]
    return sum(1 << WOL_MODE_CHARS.index(c) for c in set(modes))


def _msglvl_words(rest: tuple[str, ...]) -> int | list[tuple[int, bool]]:
    """``msglvl``'s words: ``N`` -> N, ``TYPE on|off …`` -> [(bit, on), …]."""
    from .ethtool import NETIF_MSG_NAMES

    if len(rest) == 1 and rest[0] not in NETIF_MSG_NAMES:
        return int(_ethtool_value("msglvl", rest[0], int))
    if not rest or len(rest) % 2:
        raise click.UsageError("-s: msglvl needs N, or TYPE on|off pairs")
    changes = []
    for name, state in zip(rest[::2], rest[1::2], strict=True):
        if name not in NETIF_MSG_NAMES:
            raise click.UsageError(
                f"-s: unknown message type {name!r}; types: {' '.join(NETIF_MSG_NAMES)}"
            )
        changes.append((1 << NETIF_MSG_NAMES.index(name), bool(_ethtool_value(name, state, bool))))
    return changes


def _msglvl(change: int | list[tuple[int, bool]], current: Callable[[], int]) -> int:
    """The new message level: ``change``'s bits applied to ``current()`` — for a number, its
    NETIF_MSG_* bits, the driver's own bits past them kept (ethnl_update_bitset32)."""
    level = int(current())  # asked only once the words are known to be right
    if isinstance(change, int):
        return level & ~_MSGLVL_MASK | change
    for bit, on in change:
        level = level | bit if on else level & ~bit
    return level


def _priv_flag_settings(words: tuple[str, ...]) -> dict[str, bool]:
    """``legacy-rx on`` -> ``{"legacy-rx": True}`` (names checked by the daemon)."""
    if not words or len(words) % 2:
        raise click.UsageError(
            "--set-priv-flags needs FLAG on|off pairs (the names --show-priv-flags shows)"
        )
    out: dict[str, bool] = {}
    for name, state in zip(words[::2], words[1::2], strict=True):
        if name in out:
            raise click.UsageError(f"--set-priv-flags: {name} given twice")
        out[name] = bool(_ethtool_value(name, state, bool))
    return out


def _feature_settings(words: tuple[str, ...]) -> dict[str, bool]:
    """``tso off sg on`` -> ``{"tso": False, "sg": True}`` (names checked by the daemon)."""
    if not words or len(words) % 2:
        raise click.UsageError("-K needs FEATURE on|off pairs, e.g. -K DEV tso off")
    out: dict[str, bool] = {}
    for name, state in zip(words[::2], words[1::2], strict=True):
        if name in out:
            raise click.UsageError(f"-K: {name} given twice")
        out[name] = bool(_ethtool_value(name, state, bool))
    return out


def _change_note(name: str, want: dict[str, bool], unmet: set[str]) -> str:
    """What ethtool -K adds to a line of "Actual changes:": the state asked for, if not
    the one it got; "[not requested]" for a feature that changed by a dependency."""
    if name not in want:
        return " [not requested]"
    return f" [requested {'on' if want[name] else 'off'}]" if name in unmet else ""


def _feature_request(
    asked: dict[str, bool], after: dict[str, dict[str, bool]]
) -> tuple[dict[str, bool], set[str]]:
    """The features ``asked`` (a group, ``tx`` or ``tso``, asks for each of its members,
    fixed ones included, as ethtool's legacy flags do) with the state wanted, and those of
    them that did not come out so."""
    from .ethtool import FEATURE_GROUPS, NETDEV_FEATURE_NAMES

    want: dict[str, bool] = {}
    for name, on in asked.items():
        bits = FEATURE_GROUPS[name][1] if name in FEATURE_GROUPS else None
        want.update({feat: on for bit, feat in NETDEV_FEATURE_NAMES.items()
                     if feat == name or (bits is not None and bit & bits)})  # fmt: skip
    return want, {n for n, on in want.items() if after[n]["active"] != on}


def _report_feature_changes(
    asked: dict[str, bool], before: dict[str, dict[str, bool]], after: dict[str, dict[str, bool]]
) -> None:
    """As ethtool -K (its netlink/features.c): silent when every feature asked for came out
    so and nothing else changed; otherwise "Actual changes:", in the kernel's bit order,
    each feature that did not come out as asked ("[requested on]") or changed; and when
    not one of the features asked for came out so, "Could not change any device
    features" too, exit 1.  A group (``tx``, ``tso``) asks for each of its members,
    fixed ones included, as ethtool's legacy flags do."""
    want, unmet = _feature_request(asked, after)
    changed = {n for n in after if after[n]["active"] != before[n]["active"]}
    if unmet or changed - want.keys():
        lines = [f"{n}: {'on' if f['active'] else 'off'}{_change_note(n, want, unmet)}"
                 for n, f in after.items() if n in unmet or n in changed]  # fmt: skip
        click.echo("Actual changes:\n" + "\n".join(lines))
    if want and unmet == want.keys():  # ethtool's nothing_changed: its wanted diff == request
        _fail("Could not change any device features")


_HEADING_ALONE = ("rx-checksumming", "generic-segmentation-offload", "generic-receive-offload",
                  "large-receive-offload", "rx-vlan-offload", "tx-vlan-offload", "ntuple-filters",
                  "receive-hashing")  # fmt: skip


def _features_text(dev: str, features: dict[str, dict[str, bool]]) -> str:
    """``ethtool -k``'s layout: group headings (on if any member is), members indented."""
    from .ethtool import FEATURE_GROUPS, NETDEV_FEATURE_NAMES

    def state(f: dict[str, bool]) -> str:
        s = "on" if f["active"] else "off"
        if f["fixed"]:
            return s + " [fixed]"
        if f["requested"] != f["active"]:
            return s + f" [requested {'on' if f['requested'] else 'off'}]"
        return s

    lines = [f"Features for {dev}:"]
    done: set[str] = set()
    for heading, bits in FEATURE_GROUPS.values():
        members = [n for b, n in NETDEV_FEATURE_NAMES.items() if b & bits and n in features]
        group = [features[n] for n in members]
        if heading in _HEADING_ALONE:  # ethtool shows these without their one member
            lines.append(f"{heading}: {state(group[0])}")
        else:  # ethtool's dump_features: the heading's state alone, never "[fixed]"
            on = any(f["active"] for f in group)
            lines.append(f"{heading}: {'on' if on else 'off'}")
            lines += [f"\t{n}: {state(features[n])}" for n in members]
        done.update(members)
    lines += [f"{n}: {state(f)}" for n, f in features.items() if n not in done]
    return "\n".join(lines)


def _na(value: Any, present: bool = True) -> str:
    return str(value) if present and value is not None else "n/a"


def _onoff(value: Any) -> str:
    return "n/a" if value is None else ("on" if value else "off")


_PORTS = {"tp": "Twisted Pair", "aui": "AUI", "bnc": "BNC", "mii": "MII", "fibre": "FIBRE",
          "da": "Direct Attach Copper", "none": "None", "other": "Other"}  # fmt: skip


# The NETIF_MSG_* bits ethtool netlink carries (NETIF_MSG_CLASS_COUNT: drv .. wol).
_MSGLVL_MASK = 0x7FFF


def _settings_part_lines(r: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Plain ``ethtool DEV``'s lines, part by part in ethtool 6.1's nl_gset order (the
    daemon's ``errors`` keys: ``link_ksettings``, ``wol``, ``msglevel``, ``link``); no lines
    for a part that did not answer."""
    from .ethtool import NETIF_MSG_NAMES

    ks: list[str] = []
    if r["speed"] is not None:  # None: the driver has no get_link_ksettings (as lo)
        speed = f"{r['speed']}Mb/s" if r["speed"] > 0 else "Unknown!"
        duplex = {"full": "Full", "half": "Half"}.get(r["duplex"], "Unknown! (255)")
        ks = [f"\tSpeed: {speed}", f"\tDuplex: {duplex}",
              f"\tAuto-negotiation: {_onoff(r['autoneg'])}",
              f"\tPort: {_PORTS.get(r['port'], r['port'])}"]  # fmt: skip
    wol: list[str] = []
    if r.get("wol") is not None:  # ethtool's dump_wol (only from a driver with get_wol)
        wol = [f"\tSupports Wake-on: {r['wol']['supported_modes']}",
               f"\tWake-on: {r['wol']['wake_on']}"]  # fmt: skip
        if "s" in r["wol"]["supported_modes"]:  # WAKE_MAGICSECURE
            wol.append(f"        SecureOn password: {r['wol']['sopass']}")
    level: list[str] = []
    if r.get("msglevel") is not None:
        # ethtool's netlink debug_reply_cb: 8 blanks, then 30 and " NAME" for each bit
        # (only blanks for level 0); the kernel's bitset has the named bits only.
        lvl = r["msglevel"] & _MSGLVL_MASK
        level = [f"        Current message level: 0x{lvl:08x} ({lvl})",
                 " " * 30 + "".join(f" {n}" for i, n in enumerate(NETIF_MSG_NAMES)
                                    if lvl >> i & 1)]  # fmt: skip
    link: list[str] = []
    if r["link"] is not None:  # None: no get_link (a device without ethtool_ops)
        link = [f"\tLink detected: {'yes' if r['link'] else 'no'}"]
    return [("link_ksettings", ks), ("wol", wol), ("msglevel", level), ("link", link)]


def _show_settings(dev: str, r: dict[str, Any]) -> None:
    """Plain ``ethtool DEV`` as ethtool 6.1's nl_gset prints it: each part as its reply
    comes (``Settings for DEV:`` before the first), a failed part's ``netlink error: …``
    on stderr where its lines would have been (with ``suppress_nlerr = 1`` none for
    EOPNOTSUPP; netdrv's message stands in for the kernel's extack), and once all are
    asked, when none answered, ``No data available`` and exit status 75 (else 0)."""
    errors = r.get("errors") or {}  # (a daemon older than the parts sends none)
    banner = False
    for part, lines in _settings_part_lines(r):
        failed = errors.get(part)
        if failed is not None and failed.get("errno") != errno.EOPNOTSUPP:
            click.echo(f"netlink error: {failed.get('error')}", err=True)
        if lines:
            if not banner:
                click.echo(f"Settings for {dev}:")
                banner = True
            click.echo("\n".join(lines))
    if not banner:
        click.echo("No data available")
        sys.exit(75)


def _ethtool_text(dev: str, op: str, r: dict[str, Any]) -> str:
    """``r`` formatted as the real ethtool prints it."""
    if op == "settings":
        return "\n".join([f"Settings for {dev}:",
                          *(line for _, lines in _settings_part_lines(r) for line in lines)])  # fmt: skip
    if op == "drvinfo":
        return "\n".join([
            f"driver: {r['driver']}", f"version: {r['version']}",
            f"firmware-version: {r['fw_version']}", "expansion-rom-version: ",
            f"bus-info: {r['bus_info']}",
            f"supports-statistics: {'yes' if r['n_stats'] else 'no'}",
            f"supports-test: {'yes' if r.get('testinfo_len') else 'no'}",
            f"supports-eeprom-access: {'yes' if r.get('eedump_len') else 'no'}",
            f"supports-register-dump: {'yes' if r.get('regdump_len') else 'no'}",
            f"supports-priv-flags: {'yes' if r.get('n_priv_flags') else 'no'}",
        ])  # fmt: skip
    if op == "stats":
        return "\n".join(["NIC statistics:", *(f"     {k}: {v}" for k, v in r["stats"].items())])
    if op == "msglevel":
        return f"Current message level: 0x{r['msglevel']:08x} ({r['msglevel']})"
    if op == "permaddr":  # ethtool: "%c%02x", ' ' before the first byte, ':' between; the
        # kernel leaves IFLA_PERM_ADDRESS out for one of zeros or none: "not set"
        addr = r["perm_addr"]
        return f"Permanent address: {addr if addr.strip('0:') else 'not set'}"
    if op in ("eeprom", "regs"):
        return _hex_dump(bytes.fromhex(r["data"]), r.get("offset", 0))
    if op == "test":  # ethtool's dump_test: "%s\t %d" of (u32) data[i], then a blank line
        lines = [f"The test result is {'PASS' if r['passed'] else 'FAIL'}"]
        if r.get("external_lb"):
            lines.append(f"External loopback test was {'' if r['external_lb_done'] else 'not '}"
                         "executed")  # fmt: skip
        if r["results"]:
            lines.append("The test extra info:")
        lines += [f"{name}\t {(v & 0xFFFF_FFFF ^ 0x8000_0000) - 0x8000_0000}"
                  for name, v in r["results"].items()]  # fmt: skip
        return "\n".join(lines) + "\n"
    if op == "features":
        return _features_text(dev, r["features"])
    if op == "eee":
        return _eee_text(dev, r)
    if op == "tsinfo":  # ethtool's netlink/tsinfo.c: tsinfo_dump_list, "none" when empty
        lines = [f"Time stamping parameters for {dev}:", "Capabilities:"]
        lines += [f"\t{n}" for n in r["capabilities"]]
        phc = r["phc_index"]
        lines.append(f"PTP Hardware Clock: {'none' if phc is None else phc}")
        for label, names in (("Hardware Transmit Timestamp Modes", r["tx_types"]),
                             ("Hardware Receive Filter Modes", r["rx_filters"])):  # fmt: skip
            lines += [f"{label}:", *(f"\t{n}" for n in names)] if names else [f"{label}: none"]
        return "\n".join(lines)
    if op == "priv_flags":  # ethtool: "%-*s: %s", the names padded to the longest
        width = max(map(len, r["priv_flags"]), default=0)
        return "\n".join([f"Private flags for {dev}:",
                          *(f"{n:<{width}}: {'on' if on else 'off'}"
                            for n, on in r["priv_flags"].items())])  # fmt: skip
    if op in ("ringparam", "channels"):
        if op == "ringparam":
            title = f"Ring parameters for {dev}:"
            rows = [("RX:\t\t", "rx_max_pending", "rx_pending"),
                    ("RX Mini:\t", "rx_mini_max_pending", "rx_mini_pending"),
                    ("RX Jumbo:\t", "rx_jumbo_max_pending", "rx_jumbo_pending"),
                    ("TX:\t\t", "tx_max_pending", "tx_pending")]  # fmt: skip
        else:
            title = f"Channel parameters for {dev}:"
            rows = [("RX:\t\t", "max_rx", "rx_count"), ("TX:\t\t", "max_tx", "tx_count"),
                    ("Other:\t\t", "max_other", "other_count"),
                    ("Combined:\t", "max_combined", "combined_count")]  # fmt: skip
        # A maximum of 0: the device has no such ring/queue, and the kernel omits both values.
        lines = [title, "Pre-set maximums:"]
        lines += [f"{label}{_na(r[mx], bool(r[mx]))}" for label, mx, _ in rows]
        lines.append("Current hardware settings:")
        lines += [f"{label}{_na(r[cur], bool(r[mx]))}" for label, mx, cur in rows]
        if op == "ringparam":
            lines += _RINGS_6_1_LINES
        return "\n".join(lines)
    if op == "coalesce":
        return _coalesce_text(dev, r)
    if op == "pauseparam":
        return "\n".join([
            f"Pause parameters for {dev}:", f"Autonegotiate:\t{_onoff(r['autoneg'])}",
            f"RX:\t\t{_onoff(r['rx_pause'])}", f"TX:\t\t{_onoff(r['tx_pause'])}",
        ])  # fmt: skip
    return ""


# ethtool 6.1's rings_reply_cb after the rings: RX Buf Len, CQE Size (show_u32), TX Push
# (show_bool), TCP data split. Linux 6.1's rings_fill_reply puts RX_BUF_LEN, CQE_SIZE and
# TCP_DATA_SPLIT only when nonzero and TX_PUSH always: a driver's RingParam has no
# kernel_ethtool_ringparam, which the kernel hands the driver zeroed (n/a, n/a, off, n/a).
_RINGS_6_1_LINES = ["RX Buf Len:\t\tn/a", "CQE Size:\t\tn/a", "TX Push:\toff",
                    "TCP data split:\tn/a"]  # fmt: skip
# ethtool 6.1's coalesce_reply_cb, group by group (a blank line after each): the labels of
# the struct ethtool_coalesce fields, None for one netdrv's Coalesce has not — the kernel
# leaves it out (0 and not supported: coalesce_put_u32), and ethtool prints n/a.
_COALESCE_GROUPS: tuple[tuple[tuple[str, str | None], ...], ...] = (
    (("stats-block-usecs", None), ("sample-interval", None), ("pkt-rate-low", None),
     ("pkt-rate-high", None)),
    (("rx-usecs", "rx_coalesce_usecs"), ("rx-frames", "rx_max_coalesced_frames"),
     ("rx-usecs-irq", None), ("rx-frames-irq", None)),
    (("tx-usecs", "tx_coalesce_usecs"), ("tx-frames", "tx_max_coalesced_frames"),
     ("tx-usecs-irq", None), ("tx-frames-irq", None)),
    (("rx-usecs-low", None), ("rx-frame-low", None), ("tx-usecs-low", None),
     ("tx-frame-low", None)),
    (("rx-usecs-high", None), ("rx-frame-high", None), ("tx-usecs-high", None),
     ("tx-frame-high", None)),
)  # fmt: skip


def _coalesce_text(dev: str, r: dict[str, Any]) -> str:
    """``ethtool -c``'s layout, ethtool 6.1's netlink/coalesce.c: ``name: value``, ``n/a``
    for a parameter the kernel left out (None here); "CQE mode" is n/a as netdrv's drivers
    have no kernel_ethtool_coalesce; a blank line ends each group, the last one too."""
    lines = [f"Coalesce parameters for {dev}:",
             f"Adaptive RX: {_onoff(r.get('use_adaptive_rx_coalesce'))}  "
             f"TX: {_onoff(r.get('use_adaptive_tx_coalesce'))}"]  # fmt: skip
    for group in _COALESCE_GROUPS:
        lines += [f"{label}: {_na(r.get(key) if key else None)}" for label, key in group]
        lines.append("")
    lines += ["CQE mode RX: n/a  TX: n/a", ""]
    return "\n".join(lines)


def _link_modes_text(before: str, names: list[str]) -> str:
    """ethtool's ``dump_link_modes``: ``\tBEFORE`` and the modes one a line, aligned under the
    first — a Full mode right after its Half on the same line —, or ``Not reported``."""
    if not names:
        return f"\t{before}Not reported"
    from itertools import pairwise

    out = f"\t{before}{names[0]}"
    for prev, name in pairwise(names):
        half_pair = prev.endswith("/Half") and name == prev[: -len("Half")] + "Full"
        out += " " if half_pair else "\n\t" + " " * len(before)
        out += name
    return out


def _eee_text(dev: str, r: dict[str, Any]) -> str:
    """``ethtool --show-eee``'s layout (ethtool 6.1's netlink/eee.c eee_reply_cb)."""
    status = ("enabled - " + ("active" if r["eee_active"] else "inactive")
              if r["eee_enabled"] else "disabled")  # fmt: skip
    lpi = f"{r['tx_lpi_timer']} (us)" if r["tx_lpi_enabled"] else "disabled"
    return "\n".join([
        f"EEE settings for {dev}:", f"\tEEE status: {status}", f"\tTx LPI: {lpi}",
        _link_modes_text("Supported EEE link modes:  ", r["supported_modes"]),
        _link_modes_text("Advertised EEE link modes:  ", r["advertised_modes"]),
        _link_modes_text("Link partner advertised EEE link modes:  ", r["lp_advertised_modes"]),
    ])  # fmt: skip


def _hex_dump(data: bytes, offset: int) -> str:
    """ethtool's ``dump_hex``: 16 bytes a line, each line's offset first, a space after each."""
    lines = ["Offset\t\tValues", "------\t\t------"]
    for i in range(0, len(data), 16):
        lines.append(f"0x{i + offset:04x}:\t\t" + "".join(f"{b:02x} " for b in data[i : i + 16]))
    return "\n".join(lines)


def _get_words(flag: str, op: str, words: tuple[str, ...]) -> dict[str, Any]:
    """``offset 4 length 8 raw on`` -> ``{"offset": 4, "length": 8, "raw": True}``."""
    return _word_pairs(flag, _GET_WORDS[op], words, "argument")


def _eeprom_dump(
    request: Callable[..., dict[str, Any]], c: Any, words: dict[str, Any]
) -> dict[str, Any]:
    """``ethtool -e``: the size from -i first; no length is to the end, a length past the
    end is cut to it (as ethtool does); the range read is then the driver's to refuse."""
    size = int(request(c, op="drvinfo")["result"].get("eedump_len", 0))
    offset = int(words.get("offset", 0))
    length = int(words.get("length", size))
    if size and offset + length > size and offset < size:
        length = size - offset
    reply = request(c, op="eeprom", args={"offset": offset, "length": length})
    r = reply["result"]
    if (r["offset"], r["length"]) != (offset, length):  # a daemon that dumps it all (no args)
        start = offset - r["offset"]
        if start < 0 or start + length > r["length"]:
            _fail(f"{words['dev']}: bytes {offset}..{offset + length - 1} are outside the "
                  f"{r['offset'] + r['length']}-byte EEPROM")  # fmt: skip
        r = {**r, "offset": offset, "length": length,
             "data": r["data"][2 * start : 2 * (start + length)]}  # fmt: skip
        reply = {**reply, "result": r}
    return reply


def _eeprom_write(
    request: Callable[..., dict[str, Any]], c: Any, words: tuple[str, ...]
) -> dict[str, Any]:
    """``ethtool -E DEV magic N offset N [length N] [value N]``: one byte with value, else
    length bytes (default: to the end) from standard input, exactly."""
    asked: dict[str, int] = _word_pairs("-E", _EEPROM_SET_WORDS, words)
    offset = asked.get("offset", 0)
    if "value" in asked:
        if asked.get("length", 1) != 1:
            raise click.UsageError("-E: value writes one byte: give no length, or length 1")
        if asked["value"] > 0xFF:
            raise click.UsageError(f"-E: value {asked['value']} is not a byte (0..255)")
        size = int(request(c, op="drvinfo")["result"].get("eedump_len", 0))
        if size and offset + 1 > size:  # as ethtool, before the write (status 1)
            _fail(f"offset & length out of bounds: the EEPROM has {size} bytes")
        data = bytes([asked["value"]])
    else:
        size = int(request(c, op="drvinfo")["result"].get("eedump_len", 0))
        length = asked.get("length", size - offset)
        if size and (length < 0 or offset + length > size):
            _fail(f"offset & length out of bounds: the EEPROM has {size} bytes")
        if not size:  # no EEPROM: the daemon says why, without waiting for stdin (a tty)
            data = b""
        else:
            stdin: BinaryIO = sys.stdin.buffer  # (click.get_binary_stream: untyped in 8.5)
            data = stdin.read(max(length, 0))
            if len(data) < length:  # (ethtool's status for these: 75)
                _fail(f"not enough data from stdin: {len(data)} of {length} bytes", 75)
            if stdin.read(1):
                _fail(f"too much data from stdin: more than the {length} bytes to write", 75)
    settings = {"magic": asked.get("magic", 0), "offset": offset, "data": data.hex()}
    return request(c, op="eeprom", set=settings)


def _ethtool_modes(f: Any) -> Any:
    for flag, (op, is_set, long) in reversed(_ETHTOOL_MODES.items()):
        what = {"ringparam": "ring sizes", "coalesce": "interrupt coalescing",
                "channels": "queue counts", "pauseparam": "pause (flow control)",
                "drvinfo": "driver information", "stats": "the driver's statistics",
                "nway_reset": "restart autonegotiation",
                "msglevel": f"change link settings or the message level: {_CHANGE_HELP}",
                "features": "offload features", "priv_flags": "private flags",
                "permaddr": "the permanent hardware address",
                "tsinfo": "time stamping capabilities",
                "identify": ("identify the port (blink its LED): [N] seconds (default: until "
                             "interrupted)"),
                "eee": ("Energy-Efficient Ethernet: eee on|off, advertise MASK, tx-lpi "
                        "on|off, tx-timer µs" if is_set else "Energy-Efficient Ethernet (EEE)"),
                "regs": "dump the registers: [raw on|off] [hex on|off]",
                "test": ("run the driver's self-test: [offline|online|external_lb] (default "
                         "offline; exit status 2 when it fails)"),
                "eeprom": ("the EEPROM: magic N [offset N] [value N]; without value, "
                           "[length N] bytes from stdin" if is_set
                           else "dump the EEPROM: [offset N] [length N] [raw on|off]")}[op]  # fmt: skip
        verb = "" if op in ("nway_reset", "msglevel", "regs", "test", "identify") \
            or (op == "eeprom" and not is_set) \
            else ("change " if is_set else "show ")  # fmt: skip
        if op == "features" and is_set:
            what += ": FEATURE on|off … (tso, tx, sg, rx or a name -k shows)"
        if op == "priv_flags" and is_set:
            what += ": FLAG on|off …"
        names = (flag, long) if long else (flag,)
        f = click.option(*names, "modes", flag_value=flag, multiple=True,
                         help=f"{verb}{what}")(f)  # fmt: skip
    return f


# ethtool(8)'s exit status when a request fails, (request, is a set) -> status: the codes
# of ethtool 6.x's ioctl commands (ethtool.c: -i 71, -S 96, -r -1, -p -1, -d/-e/-t 74, -E 87) and
# netlink ones (netlink/*.c: DEV 75, -s 75, -G 81, -A 76, -K 92, --set-eee 76); the other
# netlink commands (-g -c -l -a -k -P -T --show-priv-flags --show-eee, -C -L
# --set-priv-flags) exit 1.
_ETHTOOL_FAILED: dict[tuple[str, bool], int] = {
    ("settings", False): 75, ("msglevel", True): 75, ("drvinfo", False): 71,
    ("stats", False): 96, ("nway_reset", False): 255, ("features", True): 92,
    ("ringparam", True): 81, ("pauseparam", True): 76, ("regs", False): 74,
    ("eeprom", False): 74, ("eeprom", True): 87, ("test", False): 74, ("eee", True): 76,
    ("identify", False): 255,
}  # fmt: skip


def _ethtool_status(op: str, is_set: bool, asked: str | None, err: int | None) -> int:
    """ethtool's exit status for ``op`` (the command) failing; ``asked`` is the daemon request
    that failed (None: no daemon, no device), ``err`` its errno if the core or driver refused."""
    if op == "stats" and err == errno.EOPNOTSUPP:
        return 94  # ethtool -S: "no stats available"
    if op == "features" and is_set and err not in (None, errno.EINVAL, errno.ENODEV):
        # Linux takes such a request (one set_features refused; one of only fixed features
        # is no error here either) and ethtool says "Could not change any device features":
        # 1; 92 is for the kernel refusing it (an unknown feature name, no such device).
        return 1
    if op == "eeprom" and asked == "drvinfo":
        return 74  # -E asks the size first: "Cannot get driver information", 74
    return _ETHTOOL_FAILED.get((op, is_set), 1)


class _EthtoolUsageError(click.UsageError):
    """A malformed ``netdrv ethtool`` command line: exit status 1, as ethtool's."""

    exit_code = 1


class _EthtoolCommand(click.Command):
    """``netdrv ethtool``: a malformed command line exits 1, as ethtool's ``exit_bad_args``
    does, not click's 2 — which for ethtool means a self-test that failed (``-t``)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _EthtoolUsageError(exc.format_message(), exc.ctx) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _EthtoolUsageError(exc.format_message(), exc.ctx) from exc


@cli.command(cls=_EthtoolCommand, context_settings={"ignore_unknown_options": True},
             short_help="Show or change DEV's ethtool settings, like ethtool(8).")  # fmt: skip
@_ethtool_modes
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.argument("dev")
@click.argument("settings", nargs=-1)
def ethtool(modes: tuple[str, ...], as_json: bool, dev: str, settings: tuple[str, ...]) -> None:
    """Show or change DEV's ethtool settings, like ethtool(8) (e.g. -g DEV, -G DEV tx 64)."""
    if len(modes) > 1:
        raise click.UsageError(f"give one of {', '.join(modes)}, not several")
    flag = modes[0] if modes else ""
    if dev.startswith("-"):
        raise click.UsageError(f"no such option: {dev}")
    op, is_set = _ETHTOOL_MODES[flag][:2] if flag else ("settings", False)
    words: dict[str, Any] = {}
    if op == "test":
        if len(settings) > 1 or (settings and settings[0] not in _TEST_MODES):
            raise click.UsageError(f"{flag} takes one of {', '.join(_TEST_MODES)}, not "
                                   f"{' '.join(settings)!r}")  # fmt: skip
        words = {"flags": _TEST_MODES[settings[0] if settings else "offline"]}
    elif op == "identify":  # ethtool -p DEV [N]: N seconds, 0 (the default) until interrupted
        if len(settings) > 1:
            raise click.UsageError(f"{flag} takes one number of seconds, not "
                                   f"{' '.join(settings)!r}")  # fmt: skip
        words = {"seconds": _ethtool_value("N", settings[0], int) if settings else 0}
    elif not is_set and op in _GET_WORDS:
        words = _get_words(flag, op, settings)
    elif settings and not is_set:
        raise click.UsageError(f"unexpected arguments: {' '.join(settings)}")
    raw = bool(words.get("raw"))
    if raw and as_json:
        raise click.UsageError("raw on writes the bytes themselves: not with --json")

    def request(c: ControlClient, **kw: Any) -> dict[str, Any]:
        reply = c.request("ethtool", dev=dev, **kw)
        if not reply.get("ok"):
            err = reply.get("errno")
            _fail(str(reply.get("error", "the daemon refused the request")),
                  _ethtool_status(op, is_set, kw.get("op"), err if type(err) is int else None))  # fmt: skip
        return reply

    asked: dict[str, bool] = {}
    before: dict[str, dict[str, bool]] = {}

    def ask() -> dict[str, Any]:
        nonlocal asked, before
        with _client() as c:
            if op == "msglevel":  # -s: link settings first, then the message level, as ethtool
                link, lvl = _change_words(settings)
                wol = {_WOL_KEYWORDS[k]: link.pop(_WOL_KEYWORDS[k])
                       for k in _WOL_KEYWORDS if _WOL_KEYWORDS[k] in link}  # fmt: skip
                if link:
                    reply = request(c, op="settings", set=link)
                if wol:  # as ethtool's nl_sset: link settings, Wake-on-LAN, message level
                    wol_reply = request(c, op="wol", set=wol)
                    if link:  # the settings with the new Wake-on-LAN, changed if either did
                        reply["result"]["wol"] = wol_reply["result"]
                        reply["changed"] = reply.get("changed") or wol_reply.get("changed")
                    else:
                        reply = wol_reply
                if lvl is not None:
                    # msglvl changes bits of the current level; asking for it finds the
                    # device and its get_msglevel first, as ethnl_set_debug does
                    now = int(request(c, op="msglevel")["result"]["msglevel"])
                    if isinstance(lvl, int) and lvl & ~_MSGLVL_MASK:  # as ethnl_update_bitset32
                        # after the check of both ops (the level it has: nothing changes)
                        request(c, op="msglevel", set={"msglevel": now})
                        _fail(f"{dev}: msglvl {lvl:#x}: cannot modify bits past kernel bitset "
                              f"size: the level is the NETIF_MSG_* bits, 0..{_MSGLVL_MASK:#x}",
                              75)  # fmt: skip
                    level = _msglvl(lvl, lambda: now)
                    lvl_reply = request(c, op="msglevel", set={"msglevel": level})
                    if link or wol:  # both: with the new level, changed if either did
                        reply["result"]["msglevel"] = lvl_reply["result"]["msglevel"]
                        reply["changed"] = reply.get("changed") or lvl_reply.get("changed")
                    else:
                        reply = lvl_reply
            elif op == "priv_flags" and is_set:
                reply = request(c, op=op, set=_priv_flag_settings(settings))
            elif op == "eeprom":
                if is_set:
                    reply = _eeprom_write(request, c, settings)
                else:
                    reply = _eeprom_dump(request, c, {**words, "dev": dev})
            elif op == "test":
                from .ethtool import ETHTOOL_TEST_TIMEOUT

                # The daemon answers when the driver's test is done: up to its timeout, after
                # waiting as long for a test already running on the device.
                sock = getattr(c, "sock", None)  # (an in-process test client has none)
                waits = sock.gettimeout() if sock is not None else None
                longest = 2 * ETHTOOL_TEST_TIMEOUT + 5
                if sock is not None and waits is not None and waits < longest:
                    sock.settimeout(longest)
                reply = request(c, op=op, args=words)
            elif op == "identify":  # answered when it ends: N seconds, or never (Ctrl-C)
                sock = getattr(c, "sock", None)
                if sock is not None:
                    secs = words["seconds"]
                    sock.settimeout(secs + max(_timeout(), 5.0) if secs else None)
                reply = request(c, op=op, args=words)
            elif op == "features" and is_set:
                asked = _feature_settings(settings)
                before = request(c, op=op)["result"]["features"]
                reply = request(c, op=op, set=asked)
            elif is_set:
                reply = request(c, op=op, set=_ethtool_settings(flag, op, settings))
            else:
                reply = request(c, op=op)
        return reply

    try:  # asked again if the daemon was exiting: now none (DEV went with it), or a new one;
        # a self-test is asked once (an exit that cuts one off answers it: ENODEV)
        reply = ask() if op in ("test", "identify") else _once_more(ask)
    except KeyboardInterrupt:
        if op != "identify":
            raise
        # ethtool -p's usual end: SIGINT kills it (128 + 2), nothing printed; the daemon
        # sees the connection go and tells the driver ETHTOOL_ID_INACTIVE
        sys.exit(130)
    except DaemonNotRunning:
        _fail(f"no netdrv daemon in this network namespace: {dev!r} is not a netdrv device",
              _ethtool_status(op, is_set, None, None))  # fmt: skip
    except NetdrvError as exc:
        _fail(str(exc), _ethtool_status(op, is_set, None, None))
    result = reply.get("result", {})
    if as_json:
        if "changed" in reply:
            result = {**result, "changed": reply["changed"]}
        want: dict[str, bool] = {}
        unmet: set[str] = set()
        if op == "features" and is_set:  # what ethtool lists "[requested on]", in its order
            want, unmet = _feature_request(asked, result["features"])
            result = {**result, "unmet": {n: want[n] for n in result["features"] if n in unmet}}
        click.echo(json.dumps(result, indent=2))
        if want and unmet == want.keys():  # the plain command's status (and its words)
            _fail("Could not change any device features")
    elif raw:  # ethtool's raw on: the bytes, nothing else
        stdout: BinaryIO = sys.stdout.buffer
        stdout.write(bytes.fromhex(result["data"]))
        stdout.flush()
    elif op == "settings" and not is_set:
        _show_settings(dev, result)
    elif not is_set and op not in ("nway_reset", "identify"):  # a change succeeds silently
        click.echo(_ethtool_text(dev, op, result))
    elif op == "features":
        _report_feature_changes(asked, before, result["features"])
    if op == "test" and not result.get("passed"):
        sys.exit(2)  # ethtool's exit status: test.flags & ETH_TEST_FL_FAILED


@cli.command(name="sysctl", short_help="Show or set the daemon's tunables (NAME=VALUE).")
@click.argument("settings", nargs=-1)
def sysctl_cmd(settings: tuple[str, ...]) -> None:
    """Show or set the daemon's tunables (NAME=VALUE), e.g. busy_poll=50 (microseconds),
    loglevel=8 (driver debug messages into the daemon's log); NAME alone shows one.

    Setting a value starts the daemon of this namespace if needed; the value
    holds until the daemon stops.
    """
    from .daemon import SYSCTLS

    values: dict[str, int] = {}
    named: list[str] = []  # as sysctl(8): `sysctl NAME` shows that one
    for s in settings:
        k, sep, v = s.partition("=")
        if k not in SYSCTLS:
            _fail(f"unknown tunable {k!r}: give NAME or NAME=VALUE with NAME one of: "
                  f"{', '.join(SYSCTLS)}")  # fmt: skip
        named.append(k)
        if not sep:
            continue
        try:
            values[k] = int(v, 0)
        except ValueError:
            _fail(f"{k}: {v!r} is not an integer")
        _, lo, hi = SYSCTLS[k]
        if not lo <= values[k] <= hi:  # checked here too: a refused value starts no daemon
            _fail(f"{k}={values[k]} is out of range: {lo}..{hi}")
    try:  # asked again if the daemon was exiting: now none, or (setting) a new one
        reply = _ask_once_more(lambda: _client(start=bool(values)), "sysctl", {"values": values})
        result = _check(reply)["result"]
    except DaemonNotRunning:
        _fail("no netdrv daemon in this network namespace (setting a value starts one)")
    except NetdrvError as exc:
        _fail(str(exc))
    # The names given, set or shown, in their order (as sysctl(8)); after settings
    # alone, or none, every value.
    shown = dict.fromkeys(named) if any("=" not in s for s in settings) else result
    for k in shown:
        click.echo(f"{k} = {result[k]}")


LOG_TAIL_BYTES = 8 << 20  # what `netdrv log` reads of a long log: the end
ROOT_RUN_DIR = "/run/netdrv"  # root's daemons log there (daemon.run_dir)


@cli.command(name="log", short_help="This namespace's daemon log, like dmesg (-f follows).")
@click.option(
    "-a",
    "--all",
    "whole",
    is_flag=True,
    help="every daemon this namespace had, not only the last one (up to the last 8 MiB)",
)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="only the last N lines",
)
@click.option("-f", "--follow", is_flag=True,
              help="then print lines as they are written, until Ctrl-C")  # fmt: skip
def log_cmd(whole: bool, lines: int | None, follow: bool) -> None:
    """The daemon's log of this network namespace (like dmesg), from its last start.

    Drivers' messages, ip link changes they refused, faults with their
    tracebacks; `netdrv sysctl loglevel=8` adds debug messages.
    """
    from .daemon import log_path

    try:
        path = log_path()
    except NetdrvError as exc:
        _fail(str(exc))
    try:
        f = open(path, "rb")  # noqa: SIM115 (kept open to follow)
    except FileNotFoundError:
        if roots := _roots_log(path):  # root's daemon logs elsewhere
            _fail(f"this user's daemon has not run in this network namespace; root's has: its "
                  f"log is {roots} (sudo netdrv log)")  # fmt: skip
        if not follow:
            _fail(f"no netdrv daemon has run in this network namespace yet ({path} does not "
                  f"exist)")  # fmt: skip
        click.echo(f"netdrv: no netdrv daemon has run in this network namespace yet; waiting "
                   f"for its log {path}", err=True)  # fmt: skip
        try:
            _follow_log(path, None)
        except KeyboardInterrupt:
            pass
        return
    except OSError as exc:
        _fail(f"cannot read the daemon's log: {exc}")
    from .control import netns_cookie

    with f:
        data = _read_tail(f, LOG_TAIL_BYTES)
        if len(data) == f.tell():  # all of it: the lines before are in the rotated log, if any
            with contextlib.suppress(OSError), open(f"{path}.1", "rb") as old:
                data = _read_tail(old, LOG_TAIL_BYTES - len(data)) + data
        # The file outlives daemons, and namespaces: a reused inode continues it.
        mine = _this_namespaces(data.decode(errors="replace").splitlines(keepends=True),
                                netns_cookie())  # fmt: skip
        if mine is None:
            why = ("the last log for this namespace inode is from an earlier namespace that "
                   "no longer exists")  # fmt: skip
            if roots := _roots_log(path):  # as when this user has no log
                _fail(f"{why}; this user's daemon has not run in this one, root's may have: "
                      f"root's log for it is {roots} (sudo netdrv log)")  # fmt: skip
            why += f"; no daemon has run in this one ({path})"
            if not follow:
                _fail(why)
            click.echo(f"netdrv: {why}; waiting for its daemon", err=True)
            mine = []
        out, start = mine, [i for i, line in enumerate(mine) if " listening (netns " in line]
        if not whole:
            out = out[start[-1] :] if start else out
        if lines is not None:
            out = out[len(out) - lines :] if lines else []
        click.echo("".join(out), nl=False)
        if not follow:
            return
        try:
            _follow_log(path, f)
        except KeyboardInterrupt:
            return


def _roots_log(path: str) -> str | None:
    """Root's log for the namespace whose log for this user is ``path``, if this user is
    not root and root's daemon wrote one (root's daemons log in :data:`ROOT_RUN_DIR`)."""
    roots = os.path.join(ROOT_RUN_DIR, os.path.basename(path))
    return roots if os.geteuid() != 0 and os.path.exists(roots) else None


def _this_namespaces(out: list[str], cookie: int | None) -> list[str] | None:
    """The lines of log ``out`` from this namespace's first daemon after the last one of an
    earlier namespace that had this inode (its ``listening`` line names another cookie);
    None when that one was the last daemon.  A line without a cookie (a kernel before
    5.14, an older netdrv), or ``cookie`` None, tells nothing: such lines are kept."""
    if cookie is None:
        return out
    starts = [i for i, line in enumerate(out) if " listening (netns " in line]
    other = [i for i in starts if _daemon_cookie(out[i]) not in (None, cookie)]
    if not other:
        return out
    later = [i for i in starts if i > other[-1]]
    return out[later[0] :] if later else None


def _daemon_cookie(line: str) -> int | None:
    """The namespace cookie a daemon's ``listening`` line records; None if it has none."""
    _, sep, rest = line.partition(", cookie ")
    digits = rest.partition(")")[0]
    return int(digits) if sep and digits.isdigit() else None


def _read_tail(f: BinaryIO, n: int) -> bytes:
    """The last ``n`` bytes of ``f`` (left at its end), without the line they cut in two."""
    size = f.seek(0, os.SEEK_END)
    tail = max(0, size - n)
    f.seek(max(0, tail - 1))  # with the byte before: does the tail start a line?
    data = f.read()
    if tail:  # leave out the line the tail cuts in two (none if it starts one)
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return data


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _follow_log(path: str, f: Any) -> None:
    """Print what is written to ``path`` from ``f``'s position on, like ``tail -F``.

    The file is followed by name: one that was replaced (log rotation, a file removed
    and created again) is read from its new start once the old one has nothing more; an
    emptied or shortened one (``: > LOG``) is read again from its start; while there is
    none, it is waited for.  Each change is noted on standard error, as tail says it.
    """
    # A character may be split between two reads: a decoder per file keeps its bytes.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    missing = f is None
    try:
        while True:
            chunk = f.read() if f is not None else b""
            if chunk:
                click.echo(decoder.decode(chunk), nl=False)
                continue
            try:
                named: os.stat_result | None = os.stat(path)
            except OSError:  # removed (or not readable any more): wait for a new one
                named = None
            if f is not None:
                st = os.fstat(f.fileno())
                if named is not None and _same_file(named, st):
                    if st.st_size < f.tell():
                        click.echo(f"netdrv: {path}: file truncated", err=True)
                        f.seek(0)
                        decoder.reset()
                        continue
                    time.sleep(0.2)
                    continue
                # The name leads elsewhere now: what the old file got last, then the new.
                click.echo(decoder.decode(f.read(), final=True), nl=False)
                f.close()
                f = None
                decoder.reset()
            if named is None:
                if not missing:
                    click.echo(f"netdrv: {path} has gone; waiting for it to come back",
                               err=True)  # fmt: skip
                    missing = True
                time.sleep(0.2)
                continue
            try:
                f = open(path, "rb")  # noqa: SIM115 (kept open to follow)
            except OSError:
                time.sleep(0.2)
                continue
            what = "has appeared" if missing else "has been replaced"
            click.echo(f"netdrv: {path} {what}; following the new file", err=True)
            missing = False
    finally:
        if f is not None:
            f.close()


@cli.command(name="new-driver")
@click.argument("name")
@click.option("-d", "--directory", type=click.Path(file_okay=False), default=None,
              help="where to write the project (default: ./netdrv-NAME; must be empty)")  # fmt: skip
def new_driver(name: str, directory: str | None) -> None:
    """Write a pip-installable driver plugin project for NAME, with its conformance test."""
    import shlex

    from .scaffold import create_driver_project

    try:
        files = create_driver_project(name, directory)
    except NetdrvError as exc:
        _fail(str(exc), 2)
    root = files[0].parent
    for f in files:
        click.echo(f"created {f}")
    # python -m pytest: the pytest of the Python that pip installed into, not another's.
    # Quoted: the line is meant to be pasted into a shell, whatever the directory is called.
    click.echo(
        f"\nnext: pip install -e {shlex.quote(str(root))} && netdrv drivers"
        f" && python -m pytest {shlex.quote(str(root / 'tests'))}"
    )


class _PluginCommands(click.Group):
    """Lets plugins add commands (``netdrv_cli_commands``) without slowing the built-ins."""


def _split_global(args: list[str]) -> tuple[str | None, tuple[str, ...]]:
    """(subcommand, ``-p`` values) of a command line, skipping global options' values."""
    plugins: list[str] = []
    it = iter(args)
    for a in it:
        if a == "-p":
            plugins.append(next(it, ""))
        elif a == "--timeout":
            next(it, None)
        elif a.startswith("-p") and not a.startswith("--"):
            plugins.append(a[2:])
        elif a == "--":
            return next(it, None), tuple(plugins)
        elif not a.startswith("-"):
            return a, tuple(plugins)
    return None, tuple(plugins)


from .cli_faults import faults as _faults  # noqa: E402  (its own module: tc netem's CLI)

cli.add_command(_faults)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    cmd, plugins = _split_global(args)
    if cmd is not None and cmd not in cli.commands:
        # Unknown to the core: maybe a plugin command (e.g. linktest); load plugins to ask.
        try:
            pm = _plugin_manager(plugins)
            with _deadline(_timeout(), "loading plugins for their commands"):
                pm.load_all()
                pm.call_guarded("netdrv_cli_commands", cli=cli)
        except Exception as exc:  # never let a plugin break the CLI
            click.echo(f"netdrv: warning: plugins could not add commands: {exc}", err=True)
        except KeyboardInterrupt:  # Ctrl-C while plugins load: as click's Abort, no traceback
            click.echo("Aborted!", err=True)
            sys.exit(130)
    cli.main(args=args, prog_name="netdrv")


if __name__ == "__main__":
    main()
