"""Plugin discovery and guarded loading (pluggy; entry-point group ``netdrv.drivers``).

* Listing drivers reads entry-point metadata and each module's docstring from
  its source file: nothing is imported, so ``netdrv drivers`` stays fast with
  many plugins installed.  The metadata is read again only when a directory
  of ``sys.path`` changed (a distribution installed or removed there).
* Loading imports just the requested plugin.  Every import and hook call is
  guarded: a failure becomes a :class:`~netdrv_core.errors.PluginError` that
  names the plugin, its distribution and version, and the cause — and the
  other plugins keep working.
* A driver name belongs to one entry point.  When several distributions
  declare it, netdrv's own driver keeps it and the others are reported as
  broken; between third parties the name is ambiguous and refused (never a
  guess that depends on ``sys.path`` order).  A plugin whose ``netdrv_drivers``
  offers a driver under another installed plugin's name is refused too.
  ``netdrv drivers`` shows these problems, and modules that are missing,
  without importing anything; ``netdrv drivers --verbose`` loads each plugin
  (guarded) and shows why one fails.
* Hooks other than ``netdrv_drivers`` (a middleware's ``netdrv_driver_parameters``,
  device events) apply to every driver: whenever a driver is loaded, every
  ``-p MODULE`` module and every hook plugin (entry-point group ``netdrv.plugins``,
  name = plugin name) is loaded too, as pytest loads all its plugins.  A ``-p``
  module that cannot be loaded is an error (the user named it); a hook plugin
  that fails is logged with its name and stops no driver.  A long-running process
  (the daemon) tries a failed hook plugin again at its next load, as a failed
  ``modprobe`` can be retried once the module is fixed.  ``netdrv drivers`` lists
  the hook plugins and ``-p`` modules too (:meth:`PluginManager.list_plugins`),
  from metadata only.
* ``NETDRV_DISABLE_PLUGIN_AUTOLOAD=1`` turns entry-point loading off (then only
  plugins named in ``NETDRV_PLUGINS=mod1,mod2`` or ``-p MODULE`` load);
  ``-p no:NAME`` disables one plugin — both as in pytest.  In a running daemon,
  ``-p no:NAME`` of one load keeps that plugin's hooks out of that load (the
  ``skip`` of :meth:`PluginManager.load_hook_plugins`,
  :meth:`~PluginManager.driver_parameters` and :meth:`~PluginManager.notify`).
* A load error caused by the plugin's own code ends with where it failed,
  `` (at FILE:LINE in FUNC)`` (:mod:`netdrv_core.driver_errors`), as the message
  is shown without a traceback.  A hint that cannot be worked out (odd metadata)
  is left out.
* An entry point that names the wrong thing is told what to name instead
  (:mod:`netdrv_core.plugin_hints`): a module its distribution does not install,
  a submodule its package lacks, a value that is no module name, the driver's
  module rather than the plugin module, or a ``module:attr`` object.
  A driver declared in ``netdrv.plugins`` loads, with a warning that it belongs
  in ``netdrv.drivers``.
* One module declared in both groups (or named with ``-p`` too) is one plugin: pluggy
  registers it once, under its driver's name, and the other names are aliases of it —
  as pytest treats a plugin named twice — so its hooks run once and its driver keeps
  its name.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.machinery
import importlib.metadata as md
import importlib.util
import inspect
import logging
import os
import re
import sys
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import PluginError

if TYPE_CHECKING:  # imported where used: `netdrv drivers` lists without them
    from .driver import Driver
    from .params import Param

__all__ = [
    "ENTRY_POINT_GROUP",
    "HOOK_PLUGIN_GROUP",
    "DriverInfo",
    "PluginInfo",
    "PluginManager",
    "hookimpl",
]

log = logging.getLogger("netdrv.plugins")

ENTRY_POINT_GROUP = "netdrv.drivers"
# Plugins that implement hooks for every driver (no driver of their own): loaded with any driver.
HOOK_PLUGIN_GROUP = "netdrv.plugins"
hookimpl = pluggy.HookimplMarker("netdrv")

# About when this process started reading plugins: a ``.pth`` file written later was not
# processed by Python's start-up (``site``), so a distribution installed since — the
# ``pip install -e .`` of a plugin while a netdrv daemon already runs — is not importable
# until it is (see :func:`_activate_late_install`).
_STARTED = time.time()
_PTH_DONE: set[str] = set()


@dataclass(frozen=True)
class DriverInfo:
    """What is known about a driver without importing it."""

    name: str
    module: str
    distribution: str
    version: str
    summary: str
    disabled: bool = False
    problem: str = ""  # what metadata alone shows is wrong (module missing, name taken)

    @property
    def origin(self) -> str:
        """``distribution version``."""
        return f"{self.distribution} {self.version}".strip()


@dataclass(frozen=True)
class PluginInfo:
    """A plugin loaded with every driver: a hook plugin (entry-point group
    ``netdrv.plugins``, ``kind`` ``"plugin"``) or a ``-p MODULE`` module (``kind``
    ``"module"``, distribution ``(-p)``), as far as is known without importing it."""

    name: str
    module: str
    distribution: str
    version: str
    summary: str
    kind: str
    disabled: bool = False
    problem: str = ""
    """Why it does not load: seen in the metadata (module missing, name taken), or the
    error of this process's last attempt to load it."""
    hooks: tuple[str, ...] = ()
    """The hooks it implements, once loaded (this process)."""
    drivers: tuple[str, ...] = ()
    """The drivers it offers, once loaded (this process)."""

    @property
    def origin(self) -> str:
        """``distribution version``."""
        return f"{self.distribution} {self.version}".strip()


def _find_module(module: str) -> tuple[bool, str | None]:
    """(found, source path) of ``module`` (``pkg.mod`` or ``pkg.mod:attr``), importing nothing.

    Only the top-level name goes through :func:`importlib.util.find_spec` (which
    imports nothing for a top-level name); submodules are searched for in the
    package's directories, so no package ``__init__`` runs either.
    """
    spec = _module_spec(module)
    if spec is None:
        return False, None
    path = spec.origin
    return True, path if path and path.endswith(".py") else None


def _module_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of ``module`` (``pkg.mod`` or ``pkg.mod:attr``) found as
    :func:`_find_module` finds it, importing nothing; None when it is not found."""
    parts = module.partition(":")[0].strip().split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    for i in range(1, len(parts)):
        locations = spec.submodule_search_locations if spec is not None else None
        if not locations:
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(
                ".".join(parts[: i + 1]), list(locations)
            )
        except (ImportError, ValueError):
            return None
    return spec


def _module_summary(module: str) -> str:
    """First docstring line of ``module``, read from its source without importing it."""
    _found, path = _find_module(module)
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)  # bytes: the source's coding declaration applies
    except (OSError, SyntaxError, ValueError):  # unreadable, not Python, not UTF-8, NUL bytes
        return ""
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _activate_late_install(ep: md.EntryPoint) -> bool:
    """Process the ``.pth`` files of ``ep``'s distribution written after this process started.

    Python reads ``.pth`` files once, at start-up.  An editable install
    (``pip install -e .``) makes its package importable through one; a long-running
    process — the namespace's netdrv daemon — started before the install sees the
    distribution's metadata (read from ``sys.path`` every time) but cannot import its
    module.  This does for that one distribution what ``site`` would have done: add the
    directories its ``.pth`` names to ``sys.path`` and run its ``import`` lines.
    A ``.pth`` older than this process was processed at start-up and is left alone.
    Returns True when anything was done (the import is worth another try).
    """
    dist = ep.dist
    if dist is None:
        return False
    done = False
    for rel in dist.files or ():
        if not str(rel).endswith(".pth"):
            continue
        path = os.path.abspath(str(dist.locate_file(rel)))
        try:
            if os.stat(path).st_mtime < _STARTED - 1.0 or path in _PTH_DONE:
                continue  # processed at start-up, or here already
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        _PTH_DONE.add(path)
        sitedir = os.path.dirname(path)
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith(("import ", "import\t")):
                try:
                    exec(line)  # as site.addpackage does for an "import" line
                except Exception as exc:
                    log.warning("%s: %s: %s", path, type(exc).__name__, exc)
                    continue
                done = True
                continue
            entry = os.path.join(sitedir, line.rstrip())
            if os.path.isdir(entry) and entry not in sys.path:
                sys.path.append(entry)
                done = True
    if done:
        importlib.invalidate_caches()
        log.info("activated %s, installed after this process started", _dist_origin(ep))
    return done


def _missing_own_module(exc: BaseException, module: str) -> bool:
    """True when ``exc`` says the plugin's own module (not one of its imports) is missing."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return False
    target = module.partition(":")[0].strip()
    return target == exc.name or target.startswith(f"{exc.name}.")


def _importer_of(top: str, mods: list[str]) -> str | None:
    """A module outside package ``top`` (and outside the standard library's and netdrv's
    own) whose globals hold one of ``mods`` or something defined in them; None if none."""
    ours = set(mods)
    for name, mod in list(sys.modules.items()):
        if name in ours or mod is None or name.partition(".")[0] in ("netdrv_core", top):
            continue
        for value in list(getattr(mod, "__dict__", {}).values()):
            try:
                owner = value.__name__ if isinstance(value, ModuleType) else value.__module__
            except Exception:  # an object without a module, or one whose lookup raises
                continue
            if owner in ours:
                return name
    return None


def _parameters_problem(res: object, taken: set[str]) -> str:
    """What is wrong with a ``netdrv_driver_parameters`` result ("" if nothing): it must be
    a list of :class:`Param` whose names the driver (or another plugin) has not declared."""
    from .params import Param

    if not isinstance(res, list | tuple):
        return f"{res!r:.100}, not a list"
    bad = [p for p in res if not isinstance(p, Param)]
    if bad:
        return f"{bad[0]!r:.100} in its list, not a netdrv_core.Param"
    names = [p.name for p in res]
    dup = next((n for i, n in enumerate(names) if n in taken or n in names[:i]), None)
    if dup is not None:
        return f"parameter {dup!r}, which the driver (or another plugin) already declares"
    return ""


def _dist_origin(ep: md.EntryPoint) -> str:
    """``name version`` of ``ep``'s distribution (``?`` for what its metadata lacks)."""
    dist = ep.dist
    if dist is None:
        return "no distribution"
    try:
        return f"{dist.metadata['Name'] or '?'} {dist.version or '?'}"
    except Exception:  # METADATA gone since the scan: this is said in error messages
        return f"the distribution at {getattr(dist, '_path', '?')}"


# The last scan and what it depended on: reading every distribution's metadata takes tens of
# milliseconds per hundred packages, and one command may list the drivers several times.
_scan_cache: tuple[tuple[tuple[str, int | None], ...], list[md.EntryPoint], list[str]] | None = None
_MTIME_SLACK_NS = 100_000_000  # file times come from a coarse clock (a few ms behind)


def _extra_problem(module: str) -> str:
    """The error of ``-p MODULE`` module ``module``, which is not importable."""
    from .plugin_hints import extra_not_found  # error paths only: not at start-up

    return extra_not_found(module)


def _sys_path_state() -> tuple[tuple[str, int | None], ...]:
    """``sys.path`` with each directory's modification time: installing or removing a
    distribution adds or deletes its ``.dist-info`` there, which changes the time."""
    state: list[tuple[str, int | None]] = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, None))
    return tuple(state)


def _dist_key(dist: md.Distribution) -> str:
    """The normalized name that tells distributions apart, read as
    :func:`importlib.metadata.entry_points` reads it: from the name of the ``.dist-info``
    (``.egg-info``) directory, falling back to the metadata.  Parsing every distribution's
    METADATA instead took most of ``netdrv drivers``'s time."""
    key = getattr(dist, "_normalized_name", None)  # importlib.metadata's key (not public)
    if isinstance(key, str) and key:
        return key
    return re.sub(r"[-_.]+", "_", dist.metadata["Name"] or "?").lower()


def _scan_entry_points() -> tuple[list[md.EntryPoint], list[str]]:
    """The groups' entry points (the first distribution of a name counts) and the
    distributions whose metadata could not be read; cached while ``sys.path`` and its
    directories are unchanged, so a plugin installed meanwhile is seen at once."""
    global _scan_cache
    state = _sys_path_state()
    if _scan_cache is not None and _scan_cache[0] == state:
        return list(_scan_cache[1]), list(_scan_cache[2])
    eps: list[md.EntryPoint] = []
    seen: set[str] = set()
    errors: list[str] = []
    for dist in md.distributions():
        try:
            key = _dist_key(dist)
            if key in seen:
                continue
            seen.add(key)
            groups = (ENTRY_POINT_GROUP, HOOK_PLUGIN_GROUP)
            ours = [ep for ep in dist.entry_points if ep.group in groups]
            if ours:  # the listings show its name: unreadable metadata is this scan's error
                _ = dist.metadata["Name"]
            eps.extend(ours)
        except Exception as exc:
            where = getattr(dist, "_path", "?")
            errors.append(f"unreadable entry points in {where}: {type(exc).__name__}: {exc}")
    # A directory changed within the file system's clock tick of the scan could change
    # again without its time moving: such a scan is not kept (the next one reads again).
    recent = time.time_ns() - _MTIME_SLACK_NS
    if all(m is None or m < recent for _, m in state):
        _scan_cache = (state, eps, errors)
    return list(eps), list(errors)


class PluginManager:
    """netdrv's plugin manager (a thin, guarded layer over :class:`pluggy.PluginManager`)."""

    def __init__(
        self,
        *,
        autoload: bool | None = None,
        disabled: Iterable[str] = (),
        extra: Iterable[str] = (),
    ) -> None:
        if autoload is None:
            autoload = not os.environ.get("NETDRV_DISABLE_PLUGIN_AUTOLOAD")
        self.autoload = autoload
        self.disabled = set(disabled)
        self.extra = [m for m in extra if m]
        env = os.environ.get("NETDRV_PLUGINS", "")
        self.extra += [m.strip() for m in env.split(",") if m.strip()]
        self.pm = pluggy.PluginManager("netdrv")
        self.pm.add_hookspecs(hookspecs)
        self._drivers: dict[str, tuple[type[Driver], str]] = {}
        self._loaded: dict[str, ModuleType | object] = {}
        self.errors: dict[str, PluginError] = {}
        self.metadata_errors: list[str] = []  # distributions whose entry points are unreadable

    # -- listing (no imports) ------------------------------------------------------------
    def _entry_points(self) -> list[md.EntryPoint]:
        """Entry points of the group, one distribution at a time.

        Like :func:`importlib.metadata.entry_points` (the first distribution of a
        name on ``sys.path`` counts), but a distribution whose metadata cannot be
        read is skipped and remembered in :attr:`metadata_errors` instead of
        making every listing fail.
        """
        return [ep for ep in self._scanned() if ep.group == ENTRY_POINT_GROUP]

    def _hook_entry_points(self) -> list[md.EntryPoint]:
        """Entry points of the hook plugins (group ``netdrv.plugins``), first of a name."""
        eps: dict[str, md.EntryPoint] = {}
        for ep in self._scanned():
            if ep.group == HOOK_PLUGIN_GROUP:
                eps.setdefault(ep.name, ep)
        return list(eps.values())

    def _scanned(self) -> list[md.EntryPoint]:
        if not self.autoload:
            return []
        eps, errors = _scan_entry_points()
        for e in errors:
            if e not in self.metadata_errors:
                log.warning("%s", e)
        self.metadata_errors = errors
        return eps

    def _claims(self) -> dict[str, list[md.EntryPoint]]:
        claims: dict[str, list[md.EntryPoint]] = {}
        for ep in self._entry_points():
            group = claims.setdefault(ep.name, [])
            if not any(e.value == ep.value and _dist_origin(e) == _dist_origin(ep) for e in group):
                group.append(ep)
        return claims

    @staticmethod
    def _resolve(name: str, eps: list[md.EntryPoint]) -> tuple[md.EntryPoint | None, str]:
        """Which entry point owns driver name ``name``: (winner or None, why not, if not).

        One claimant owns its name.  When several distributions declare the same
        driver name, netdrv's own (first-party) driver keeps it; between third
        parties the name is ambiguous and nobody gets it — never a guess that
        depends on the order of ``sys.path``.
        """
        if len(eps) == 1:
            return eps[0], ""
        first = [ep for ep in eps if ep.dist is not None and ep.dist.metadata["Name"] == "netdrv"]
        if len(first) == 1:
            return first[0], ""
        who = ", ".join(f"{_dist_origin(ep)} (module {ep.value})" for ep in eps)
        return None, (
            f"driver name {name!r} is declared by {len(eps)} distributions: {who}; "
            f"uninstall all but one of them"
        )

    def _problem(self, ep: md.EntryPoint, claims: dict[str, list[md.EntryPoint]]) -> str:
        winner, why = self._resolve(ep.name, claims[ep.name])
        if winner is None:
            return why
        if winner is not ep:
            return (
                f"driver name {ep.name!r} is already taken by {_dist_origin(winner)} (module "
                f"{winner.value}); this entry point of {_dist_origin(ep)} is ignored: rename "
                f"the driver"
            )
        found, _ = _find_module(ep.value)
        if not found:
            from . import plugin_hints  # error paths only: not at start-up

            return plugin_hints.entry_point_typo(ep) or (
                f"module {ep.value.partition(':')[0]!r} not found ({_dist_origin(ep)} is "
                f"installed without it, or for another Python)"
            )
        return ""

    def list_drivers(self) -> list[DriverInfo]:
        """Every installed driver, from metadata only (disabled ones and problems flagged)."""
        out = []
        claims = self._claims()
        # Each dist.metadata parses the distribution's METADATA again: once per distribution.
        names: dict[int, tuple[str, str]] = {}
        for eps in claims.values():
            for ep in eps:
                dist = ep.dist
                if dist is not None and id(dist) not in names:
                    meta = dist.metadata
                    names[id(dist)] = (meta["Name"], meta["Version"])
                distribution, version = names[id(dist)] if dist is not None else ("?", "?")
                out.append(
                    DriverInfo(
                        name=ep.name,
                        module=ep.value,
                        distribution=distribution,
                        version=version,
                        summary=_module_summary(ep.value),
                        disabled=ep.name in self.disabled,
                        problem=self._problem(ep, claims),
                    )
                )
        for mod in self.extra:
            name = mod.rsplit(".", 1)[-1]
            found, _ = _find_module(mod)
            problem = "" if found else _extra_problem(mod)
            out.append(DriverInfo(name, mod, "(-p)", "", _module_summary(mod), problem=problem))
        return sorted(out, key=lambda d: d.name)

    def driver_names(self) -> list[str]:
        """Names of every enabled driver."""
        return [d.name for d in self.list_drivers() if not d.disabled]

    def list_plugins(self) -> list[PluginInfo]:
        """The plugins loaded with every driver: each installed hook plugin (entry-point
        group ``netdrv.plugins``, by name), then each ``-p MODULE`` module, as ``pytest
        --trace-config`` lists its plugins.

        Metadata only, as :meth:`list_drivers`: nothing is imported.  A problem the
        metadata shows (a module missing, a name another entry point holds) is in
        ``problem``; so is the error of this manager's last attempt to load the plugin,
        and one that loaded has its ``hooks`` and ``drivers`` filled in.
        """
        out: list[PluginInfo] = []
        first: dict[str, md.EntryPoint] = {}
        claims = self._claims()
        for ep in self._scanned():
            if ep.group != HOOK_PLUGIN_GROUP:
                continue
            winner = first.setdefault(ep.name, ep)
            if winner is not ep and (winner.value, _dist_origin(winner)) == (
                ep.value, _dist_origin(ep)
            ):  # fmt: skip
                continue  # the same entry point seen twice
            problem = ""
            if winner is not ep:
                problem = (
                    f"plugin name {ep.name!r} is already taken by {_dist_origin(winner)} "
                    f"(module {winner.value}); this entry point of {_dist_origin(ep)} is "
                    f"ignored: rename the plugin"
                )
            elif ep.name in claims:
                owner = self._resolve(ep.name, claims[ep.name])[0] or claims[ep.name][0]
                problem = (
                    f"plugin name {ep.name!r} is a driver's name ({_dist_origin(owner)}, module "
                    f"{owner.value}): the driver's plugin is loaded under it, never this one: "
                    f"rename the plugin"
                )
            elif not _find_module(ep.value)[0]:
                from . import plugin_hints  # error paths only: not at start-up

                problem = plugin_hints.entry_point_typo(ep) or (
                    f"module {ep.value.partition(':')[0]!r} not found ({_dist_origin(ep)} is "
                    f"installed without it, or for another Python)"
                )
            owns = winner is ep and ep.name not in claims  # else loaded is another's
            out.append(self._plugin_info(
                ep.name, ep.name, ep.value, ep.dist, "plugin", problem, owns=owns,
            ))  # fmt: skip
        out.sort(key=lambda p: (p.name, bool(p.problem)))  # the one that loads first
        for mod in self.extra:
            found, _ = _find_module(mod)
            out.append(self._plugin_info(
                mod.rsplit(".", 1)[-1], self._extra_plugin(mod), mod, None, "module",
                "" if found else _extra_problem(mod),
            ))  # fmt: skip
        return out

    def _plugin_info(
        self, shown: str, name: str, module: str, dist: md.Distribution | None, kind: str,
        problem: str, *, owns: bool = True,
    ) -> PluginInfo:  # fmt: skip
        """A :class:`PluginInfo` of plugin ``name`` (shown as ``shown``) with what this
        manager knows of it: its load error, or its hooks and drivers once loaded."""
        plugin = self._loaded.get(name) if owns else None
        hooks: tuple[str, ...] = ()
        drivers: tuple[str, ...] = ()
        if plugin is not None:
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or ()))
            names = {n for n, p in self._loaded.items() if p is plugin}  # its other names too
            drivers = tuple(sorted(d for d, (_, owner) in self._drivers.items() if owner in names))
        elif owns and not problem and name in self.errors:
            problem = str(self.errors[name])
        if dist is not None:
            distribution, version = dist.metadata["Name"] or "?", dist.version
        else:
            distribution, version = ("(-p)", "") if kind == "module" else ("?", "?")
        return PluginInfo(
            name=shown, module=module, distribution=distribution, version=version,
            summary=_module_summary(module), kind=kind,
            disabled=name in self.disabled or shown in self.disabled, problem=problem,
            hooks=hooks, drivers=drivers,
        )  # fmt: skip

    # -- loading --------------------------------------------------------------------------
    def register(self, plugin: object, name: str | None = None) -> None:
        """Register an already imported plugin (module or object) under ``name``."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self.disabled:
            raise PluginError(f"plugin {name!r} is disabled (-p no:{name})")
        if self.pm.is_registered(plugin):
            # The same module under another name (-p of an entry point's): its hooks run
            # once, as pytest registers a plugin once; ``name`` is another name of it.
            self._loaded[name] = plugin
            return
        try:
            # pluggy validates each hookimpl's arguments against its hookspec here.
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            # pluggy keeps the hooks it registered before the bad one: none may run.
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            err = PluginError(f"plugin {name!r} ({self._origin(name)}) has a bad hook: {exc}")
            self.errors[name] = err
            raise err from None
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            from .plugin_hints import unknown_hooks

            self.pm.unregister(plugin)
            err = PluginError(
                f"plugin {name!r} ({self._origin(name)}) implements {unknown_hooks(plugin, exc)}"
            )
            self.errors[name] = err
            raise err from None
        try:
            self._collect(plugin, name)
        except PluginError as exc:
            # Do not leave a rejected plugin half-registered (its hooks would still run).
            self.pm.unregister(plugin)
            for drv in [d for d, (_, owner) in self._drivers.items() if owner == name]:
                del self._drivers[drv]
            self.errors[name] = exc
            raise
        self._loaded[name] = plugin

    def _origin(self, name: str) -> str:
        eps = self._claims().get(name)
        if eps:
            ep = self._resolve(name, eps)[0] or eps[0]
            if ep.dist is not None:
                return f"distribution {ep.dist.metadata['Name']} {ep.dist.version}"
        hook = next((ep for ep in self._hook_entry_points() if ep.name == name), None)
        if hook is not None and hook.dist is not None:
            return f"distribution {_dist_origin(hook)}"
        mod = self._extra_module(name)
        return f"-p {mod}" if mod is not None else "no distribution"

    def _extra_module(self, name: str) -> str | None:
        """The ``-p MODULE`` module registered as plugin ``name`` (its last name component)."""
        return next((m for m in self.extra if m == name or m.rsplit(".", 1)[-1] == name), None)

    def _collect(self, plugin: object, pname: str) -> None:
        impl = getattr(plugin, "netdrv_drivers", None)
        if impl is None:
            return
        from .driver import Driver  # here, not at import: `netdrv drivers` needs no driver model

        try:
            classes = impl() or []
        except Exception as exc:
            from .driver_errors import describe_exception, driver_code_location

            raise PluginError(
                f"plugin {pname!r} ({self._origin(pname)}) raised in netdrv_drivers: "
                f"{describe_exception(exc)}{driver_code_location(exc)}"
            ) from exc
        if not isinstance(classes, list | tuple):
            raise PluginError(
                f"plugin {pname!r} ({self._origin(pname)}): netdrv_drivers returned {classes!r}, "
                "not a list of Driver subclasses (return [MyDriver])"
            )
        for cls in classes:
            if (
                isinstance(cls, type)
                and issubclass(cls, Driver)
                and not isinstance(
                    inspect.getattr_static(cls, "check_params", None), classmethod | staticmethod
                )
            ):
                raise PluginError(
                    f"plugin {pname!r} ({self._origin(pname)}): {cls.__name__}.check_params "
                    "is called on the class, before any driver exists: decorate it with "
                    "@classmethod (def check_params(cls, params))"
                )
            if isinstance(cls, type) and issubclass(cls, Driver) and not cls.name:
                raise PluginError(
                    f"plugin {pname!r} ({self._origin(pname)}) offered {cls!r}, a "
                    f"netdrv_core.Driver subclass without a name: set name = {pname!r} (the "
                    f"entry-point name) in the class"
                )
            if not (isinstance(cls, type) and issubclass(cls, Driver)) or not cls.name:
                what = "an instance" if isinstance(cls, Driver) else "not a class"
                if isinstance(cls, type):
                    what = "not a subclass of netdrv_core.Driver"
                raise PluginError(
                    f"plugin {pname!r} ({self._origin(pname)}) offered {cls!r:.100}, which is "
                    f"not a netdrv_core.Driver subclass with a name ({what}): return the "
                    "classes themselves, e.g. [MyDriver]"
                )
            other = None
            if cls.name in self._drivers and self._drivers[cls.name][0] is not cls:
                other = self._drivers[cls.name][1]
            elif cls.name != pname and cls.name not in self.disabled:
                # Another installed plugin owns this name, even if it is not loaded yet.
                claims = self._claims().get(cls.name)
                if claims and self._resolve(cls.name, claims)[0] is not None:
                    other = cls.name
            if other is not None:
                raise PluginError(
                    f"plugin {pname!r} ({self._origin(pname)}) declares driver {cls.name!r}, "
                    f"which plugin {other!r} ({self._origin(other)}) already provides; "
                    f"disable one with -p no:NAME"
                )
            self._drivers[cls.name] = (cls, pname)

    def load_plugin(self, name: str) -> object:
        """Import and register the plugin called ``name`` (entry point or ``-p`` module)."""
        if name in self._loaded:
            return self._loaded[name]
        if name in self.disabled:
            raise PluginError(f"plugin {name!r} is disabled (-p no:{name} or configuration)")
        target = None
        eps = self._claims().get(name)
        if eps:
            target, why = self._resolve(name, eps)
            if target is None:
                err = PluginError(why)
                self.errors[name] = err
                raise err
        else:
            target = next((ep for ep in self._hook_entry_points() if ep.name == name), None)
            if target is not None and (owner := self._driver_plugin_of(target.value)):
                return self._load_as_driver_plugin(name, owner, target)
        try:
            if target is not None:
                try:
                    module = target.load()
                except ModuleNotFoundError as exc:
                    # Installed after this process (a running daemon) started? Activate it.
                    if not (_missing_own_module(exc, target.value)
                            and _activate_late_install(target)):  # fmt: skip
                        raise
                    module = target.load()
            elif (modname := self._extra_module(name)) is not None:
                try:
                    module = importlib.import_module(modname)
                except ModuleNotFoundError as exc:
                    if not _missing_own_module(exc, modname):
                        raise
                    err = PluginError(_extra_problem(modname))
                    self.errors[name] = err
                    raise err from None
            else:
                raise self._unknown_driver(name)
        except PluginError:
            raise
        except BaseException as exc:  # SystemExit/KeyboardInterrupt from a plugin too
            if isinstance(exc, KeyboardInterrupt):
                raise
            from . import plugin_hints as hints
            from .driver_errors import describe_exception, driver_code_location

            hint = ""
            what = f"{describe_exception(exc)}{driver_code_location(exc)}"
            syntax = "" if target is None else hints.hint(lambda: hints.entry_point_syntax(target))
            if syntax:
                what = syntax  # importlib's AttributeError on a value it cannot parse says nothing
            elif target is not None and _missing_own_module(exc, target.value):
                hint = (
                    f" — {typo}"
                    if (typo := hints.entry_point_typo(target))
                    else (
                        f" — its distribution is installed but the module is not importable here: "
                        f"reinstall it (pip install -e DIR) for this Python ({sys.executable}); "
                        f"a netdrv daemon started before the install needs `netdrv stop` first"
                        + hints.hint(lambda: hints.editable_typo_note(target))
                    )
                )
            elif target is not None and isinstance(exc, AttributeError):
                fix = hints.hint(lambda: hints.names_an_object(target))
                hint = f" — {fix}" if fix else ""
            err = PluginError(
                f"plugin {name!r} ({self._origin(name)}) failed to load: {what}{hint}"
            )
            self.errors[name] = err
            raise err from exc
        self.register(module, name)
        return module

    def _driver_plugin_of(self, module: str) -> str | None:
        """The installed driver whose entry point (group ``netdrv.drivers``) names plugin
        module ``module`` too; None when none does."""
        for drv, eps in self._claims().items():
            winner = self._resolve(drv, eps)[0]
            if winner is not None and winner.value.strip() == module.strip():
                return drv
        return None

    def _load_as_driver_plugin(self, name: str, owner: str, ep: md.EntryPoint) -> object:
        """Load hook plugin ``name``, whose module is also driver ``owner``'s plugin module:
        one module, one plugin with both roles — as pytest registers a plugin once however
        often it is named.  Its hooks are registered (once) with the driver's plugin, and
        ``name`` is another name of it; a second registration would make the driver's name
        taken and the hooks run twice."""
        try:
            module = self.load_plugin(owner)
        except PluginError as exc:
            err = PluginError(
                f"plugin {name!r} (distribution {_dist_origin(ep)}) is module {ep.value}, "
                f"which is also driver {owner!r}'s plugin and did not load: {exc}"
            )
            self.errors[name] = err
            raise err from None
        self._loaded[name] = module
        return module

    def _unknown_driver(self, name: str) -> PluginError:
        """The error of loading ``name``, which no plugin offers, with the driver names
        close to it.  Those are the installed drivers' (entry points of
        ``netdrv.drivers``) and those the loaded plugins offer: a ``-p MODULE`` module's
        name is no driver name (``-p netdrv_snull`` offers ``snull``; a hook plugin or a
        module that failed to import offers none)."""
        known = sorted(
            {d.name for d in self.list_drivers() if not d.disabled and d.distribution != "(-p)"}
            | {d for d in self._drivers if d not in self.disabled}
        )
        import difflib  # only for error messages: not at start-up

        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        if not self.autoload:  # what is installed was not looked at: say so, not "none"
            avail = ", ".join(known) or "none"
            return PluginError(
                f"unknown driver {name!r}.{hint} Drivers: {avail}; {self._autoload_off(name)}"
            )
        avail = ", ".join(known) or "none (is netdrv installed with pip install -e .?)"
        return PluginError(f"unknown driver {name!r}.{hint} Installed drivers: {avail}")

    def _autoload_off(self, name: str) -> str:
        """Why driver ``name`` may be unknown with entry-point loading off, and what to do
        (as pytest says for ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``): name its plugin module —
        the one an installed distribution declares for it, when one does."""
        env = bool(os.environ.get("NETDRV_DISABLE_PLUGIN_AUTOLOAD"))
        why = "NETDRV_DISABLE_PLUGIN_AUTOLOAD is set" if env else "entry-point loading is off"
        undo = ", or unset the variable" if env else ""
        eps = [ep for ep in _scan_entry_points()[0] if ep.group == ENTRY_POINT_GROUP]
        module = next((ep.value.partition(":")[0].strip() for ep in eps if ep.name == name), "")
        if module:
            return (
                f"{why}, so installed plugins are not loaded: name the plugin module, as in "
                f"netdrv -p {module} load {name} (or NETDRV_PLUGINS={module}){undo}"
            )
        return (
            f"{why}, so installed plugins are not loaded: name the driver's plugin module with "
            f"-p MODULE (or NETDRV_PLUGINS=MODULE){undo}"
        )

    def load_hook_plugins(
        self, required: Iterable[str] = (), *, retry_failed: bool = False,
        skip: Collection[str] = (),
    ) -> dict[str, PluginError]:  # fmt: skip
        """Load every ``-p MODULE`` module and every enabled hook plugin (entry-point group
        ``netdrv.plugins``) not loaded yet, so that their hooks take part in what follows.

        As pytest loads all its plugins: a middleware's ``netdrv_driver_parameters`` and
        device hooks apply to drivers it does not offer.  A failure is logged with the
        plugin's name and returned, so a broken hook plugin stops no driver.  One that
        failed before is not tried again (an import may hang) unless ``retry_failed``:
        then each is imported afresh from disk, once in this call, and a failure is logged
        again — what the daemon does once per ``netdrv load``, so that a plugin fixed and
        reinstalled meanwhile takes part, as a failed ``modprobe`` can be retried.  A
        module of ``required`` (the ``-p`` modules named for this command) that fails is
        dropped from :attr:`extra` and its error raised: the user asked for it, as with
        pytest's ``-p``.  The plugins named in ``skip`` (``-p no:NAME`` of one load in a
        running daemon) are not loaded.  Returns the failures.
        """
        retried = self._forget_failures() if retry_failed else set()
        failed: dict[str, PluginError] = {}
        must = set(required)
        for mod in list(self.extra):
            name = self._extra_plugin(mod)
            if mod not in must and (name in skip or mod in skip):
                continue
            err = self._try_load(name, report=mod not in must)
            if err is None:
                continue
            if mod in must:
                # Not this manager's plugin from now on; named again, it is tried again.
                self.extra.remove(mod)
                self.errors.pop(name, None)
                raise err
            failed[name] = err
        for ep in self._hook_entry_points():
            if ep.name not in self.disabled and ep.name not in skip:
                fresh = ep.name not in self._loaded
                err = self._try_load(ep.name, report=True)
                if err is not None:
                    failed[ep.name] = err
                elif fresh:
                    self._warn_drivers_of_hook_plugin(ep)
        for name in sorted(retried & set(self._loaded)):
            log.info("plugin %r (%s) loaded; it had failed to load before", name,
                     self._origin(name))  # fmt: skip
        return failed

    def _warn_drivers_of_hook_plugin(self, ep: md.EntryPoint) -> None:
        """Warn when hook plugin ``ep`` (group ``netdrv.plugins``) offers drivers: they load,
        but it is imported with every driver and ``netdrv drivers`` lists none of them —
        the entry point belongs in ``netdrv.drivers``."""
        offers = sorted(d for d, (_, owner) in self._drivers.items() if owner == ep.name)
        if not offers:
            return
        log.warning(
            'plugin %r (%s) offers driver %s but is declared in the entry-point group %s, '
            "whose plugins are imported with every driver and whose drivers `netdrv drivers` "
            'does not list: declare it under [project.entry-points."%s"] instead (%s = "%s")',
            ep.name, _dist_origin(ep), ", ".join(offers), HOOK_PLUGIN_GROUP,
            ENTRY_POINT_GROUP, offers[0], ep.value,
        )  # fmt: skip

    def _forget_failures(self) -> set[str]:
        """Forget that the ``-p`` modules and hook plugins which are not loaded failed, so
        the next attempt imports them from disk again: what an import that went through
        left in ``sys.modules`` (a plugin refused after its import — a bad hook, a driver
        name taken) is dropped, and the import system's caches too (a reinstall).
        Returns the names of the plugins forgiven."""
        modules = {self._extra_plugin(m): m for m in self.extra}
        for ep in self._hook_entry_points():
            modules.setdefault(ep.name, ep.value)
        forgot: set[str] = set()
        for name, module in modules.items():
            if name in self._loaded or self.errors.pop(name, None) is None:
                continue
            forgot.add(name)
            if (eps := self._claims().get(name)) and (owner := self._resolve(name, eps)[0]):
                module = owner.value  # ``-p`` of an installed driver's module
            self._drop_modules(name, module.partition(":")[0].strip().split(".")[0])
        if forgot:
            importlib.invalidate_caches()
        return forgot

    def loaded_plugins(self) -> set[str]:
        """The names of the plugins loaded (registered) so far."""
        return set(self._loaded)

    def drop_extra(self, mod: str, *, keep: Collection[str] = ()) -> None:
        """Make ``-p mod``, named for a load that failed, no plugin of this manager's: out of
        :attr:`extra`, and its hooks unregistered when it offers no driver and is not in
        ``keep`` (the plugins loaded before that load) — loaded for that load only, they
        would otherwise run for every later one."""
        if mod in self.extra:
            self.extra.remove(mod)
        name = self._extra_plugin(mod)
        if name in keep or name not in self._loaded:
            return
        if any(owner == name for _, owner in self._drivers.values()):
            return  # a driver's plugin: the daemon forgets it as after any failed load
        self.forget_plugin(name)

    def _extra_plugin(self, mod: str) -> str:
        """The plugin name of ``-p mod``: the installed driver whose entry point is ``mod``
        (``-p netdrv_snull`` is ``snull``, not a second plugin claiming its driver), else
        the module's last name component."""
        for name, eps in self._claims().items():
            winner = self._resolve(name, eps)[0]
            if name not in self.disabled and winner is not None and winner.value.strip() == mod:
                return name
        return mod.rsplit(".", 1)[-1]

    def _try_load(self, name: str, *, report: bool) -> PluginError | None:
        """Load plugin ``name`` unless it is loaded; its error if it failed, now or before
        (logged when new, if ``report``)."""
        if name in self._loaded:
            return None
        if name in self.errors:
            return self.errors[name]
        try:
            self.load_plugin(name)
        except PluginError as exc:
            self.errors[name] = exc
            if report:
                log.error("%s", exc)
            return exc
        return None

    def get_driver(self, name: str, *, hook_plugins: bool = True) -> type[Driver]:
        """The driver class called ``name``, loading its plugin and, unless ``hook_plugins``
        is false (the caller just did), the hook plugins (:meth:`load_hook_plugins`; their
        failures are logged)."""
        if hook_plugins:
            self.load_hook_plugins()
        if name not in self._drivers:
            try:
                self.load_plugin(name)
            except PluginError:
                # A ``-p MODULE`` plugin may offer the driver under another name than
                # its module's (``-p netdrv_snull`` offers ``snull``): ask each of them.
                for mod in self.extra:
                    if name in self._drivers:
                        break
                    plugin = mod.rsplit(".", 1)[-1]
                    if plugin == name or plugin in self.errors:
                        continue  # already tried (and failed) just now: never retry a hang
                    if plugin not in self._loaded and plugin not in self.disabled:
                        try:
                            self.load_plugin(plugin)
                        except PluginError as exc:
                            log.error("%s", exc)
                if name not in self._drivers:
                    if name in self._claims() or self._extra_module(name) is not None:
                        raise
                    # Not installed: the drivers the -p modules offer, now they are
                    # loaded, are among the names the message suggests.
                    raise self._unknown_driver(name) from None
        if name not in self._drivers:
            # The entry point's module may offer the driver under another plugin name.
            offers = [d for d, (_, owner) in self._drivers.items() if owner == name]
            if offers:
                fix = (
                    f"the entry-point name is the driver name: make Driver.name {name!r}, or "
                    f"rename the entry point to {offers[0]!r}"
                )
            elif self._hooks_only(name) and (module := self._extra_module(name)) is not None:
                fix = (
                    "it implements hooks but no driver: name a driver to load with it "
                    f"(netdrv -p {module} load DRIVER); its hooks apply to every driver"
                )
            elif self._hooks_only(name):
                fix = (
                    "it implements hooks but no driver: declare it in the entry-point group "
                    f"{HOOK_PLUGIN_GROUP} (those plugins load with every driver), not in "
                    f"{ENTRY_POINT_GROUP} (whose names are drivers)"
                )
            elif (no_hook := self._no_driver_hook(name)) is not None:
                fix = no_hook
            else:
                fix = (
                    "its netdrv_drivers hook returned no driver: return [YourDriver] and "
                    "decorate the hook with @hookimpl"
                )
            raise PluginError(
                f"plugin {name!r} ({self._origin(name)}) loaded but offers no driver named "
                f"{name!r} (it offers: {', '.join(offers) or 'nothing'}): {fix}"
            )
        return self._drivers[name][0]

    def _no_driver_hook(self, name: str) -> str | None:
        """What to do when loaded plugin ``name`` implements no hook at all — its entry point
        names the wrong thing (the driver's module, a class or function in the plugin
        module); None when it implements one."""
        plugin = self._loaded.get(name)
        if plugin is None or self.pm.get_hookcallers(plugin):
            return None
        if getattr(plugin, "netdrv_drivers", None) is not None:
            return None
        from .plugin_hints import names_an_object

        eps = self._claims().get(name)
        ep = self._resolve(name, eps)[0] if eps else None
        if ep is not None and (fix := names_an_object(ep)):
            return fix
        if not isinstance(plugin, ModuleType):
            return (
                f"{plugin!r:.80} implements no netdrv hook: register the plugin module, the "
                f"one whose netdrv_drivers() returns the driver classes"
            )
        where = f'the entry point {ep.name} = "{ep.value}" names' if ep else "-p names"
        return (
            f"{where} module {plugin.__name__!r}, which implements no netdrv hook: name the "
            f"plugin module, the one that defines @hookimpl def netdrv_drivers() returning "
            f"[YourDriver] (a module it imports the driver from is not the plugin)"
        )

    def _hooks_only(self, name: str) -> bool:
        """Whether loaded plugin ``name`` implements hooks but not ``netdrv_drivers``."""
        plugin = self._loaded.get(name)
        hooks = {c.name for c in self.pm.get_hookcallers(plugin) or ()} if plugin else set()
        return bool(hooks) and "netdrv_drivers" not in hooks

    def plugin_of(self, driver: str) -> str | None:
        """The name of the loaded plugin that offers ``driver`` (None: none loaded does)."""
        entry = self._drivers.get(driver)
        return entry[1] if entry is not None else None

    def forget_plugin(self, name: str) -> list[str]:
        """Forget the loaded plugin ``name``, as ``rmmod`` forgets a module.

        Its hook implementations are unregistered, its drivers dropped and its modules
        (the plugin module's top-level package and everything under it) removed from
        ``sys.modules``, so that the next :meth:`load_plugin` imports it from disk again:
        after ``netdrv unload NAME`` an author's edit to the driver is what the next
        ``netdrv load NAME`` runs, in a daemon that other drivers keep alive.  Modules
        shared with another loaded plugin, and netdrv's own, stay.  Returns the names
        of the modules removed.  ``name`` may also be a driver the plugin offers (a
        ``-p MODULE`` plugin is registered under its module's name).  A driver's plugin
        that is a hook plugin too (one module in both entry-point groups) is kept: its
        hooks run with every driver, as any hook plugin's do; forgetting it under its
        hook plugin's name forgets both.
        """
        if name not in self._loaded and name in self._drivers:
            name = self._drivers[name][1]
        if (hooks := self._hook_roles(name)) and name not in hooks:
            log.info("plugin %s is kept: it is hook plugin %s too, whose hooks run with every "
                     "driver (an edit of it loads once the daemon restarts: netdrv stop)",
                     name, ", ".join(sorted(hooks)))  # fmt: skip
            return []
        plugin = self._loaded.pop(name, None)
        self.errors.pop(name, None)
        for drv in [d for d, (_, owner) in self._drivers.items() if owner == name]:
            del self._drivers[drv]
        if plugin is None:
            return []
        for alias in [n for n, p in self._loaded.items() if p is plugin]:
            # The module's other names (in both entry-point groups): the same plugin.
            del self._loaded[alias]
            self.errors.pop(alias, None)
            for drv in [d for d, (_, owner) in self._drivers.items() if owner == alias]:
                del self._drivers[drv]
        with contextlib.suppress(ValueError):
            self.pm.unregister(plugin)
        gone = self._drop_modules(name, str(getattr(plugin, "__name__", "")).split(".")[0])
        if gone:
            importlib.invalidate_caches()
        return gone

    def _hook_roles(self, name: str) -> set[str]:
        """The hook plugins (group ``netdrv.plugins``) that loaded plugin ``name`` is too."""
        plugin = self._loaded.get(name)
        if plugin is None:
            return set()
        hooks = {ep.name for ep in self._hook_entry_points()}
        return {n for n, p in self._loaded.items() if p is plugin and n in hooks}

    def _drop_modules(self, name: str, top: str) -> list[str]:
        """Remove package ``top`` of plugin ``name`` (not loaded any more) and everything
        under it from ``sys.modules``, so that it is imported from disk again; unless it is
        netdrv's own, the standard library's, or still in use.  Returns what was removed."""
        others = {str(getattr(p, "__name__", "")).split(".")[0] for p in self._loaded.values()}
        if not top or top == "netdrv_core" or top in others or top in sys.stdlib_module_names:
            return []
        gone = sorted(m for m in sys.modules if m == top or m.startswith(f"{top}."))
        if not gone:
            return []
        user = _importer_of(top, gone)
        if user is not None:
            # Another module holds this package's objects (a third-party driver built on
            # netdrv_serial's codecs): importing it afresh would make a second copy of them.
            log.info("plugin %s is kept in memory: %s uses it", name, user)
            return []
        for mod in gone:
            del sys.modules[mod]
        return gone

    def load_all(self) -> dict[str, PluginError]:
        """Load every enabled plugin; failures are collected, not raised."""
        self.load_hook_plugins()
        for name in self.driver_names():
            try:
                self.load_plugin(name)
            except PluginError as exc:
                self.errors[name] = exc
                log.error("%s", exc)
        return dict(self.errors)

    def driver_parameters(
        self, name: str, *, hook_plugins: bool = True, skip: Collection[str] = ()
    ) -> tuple[Param, ...]:
        """Declared parameters of a driver plus those other plugins add (``hook_plugins``:
        as in :meth:`get_driver`), except the plugins named in ``skip``.

        The hook runs for every driver: what one plugin returns that is not a list of
        new :class:`Param` is left out, logged with its plugin's name, so that it
        cannot break the loading and listing of every other driver.
        """
        cls = self.get_driver(name, hook_plugins=hook_plugins)
        params = list(cls.parameters)
        calls = self._call_guarded("netdrv_driver_parameters", skip, driver=name)
        for plugin, res in calls:
            problem = _parameters_problem(res, {p.name for p in params})
            if problem:
                log.error(
                    "plugin %r (%s): netdrv_driver_parameters(driver=%r) returned %s; ignored "
                    "(return a list of netdrv_core.Param with new names)",
                    plugin, self._origin(plugin), name, problem,
                )  # fmt: skip
                continue
            params.extend(res)
        return tuple(params)

    # -- hooks ------------------------------------------------------------------------------
    def call_guarded(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hook``; one that raises is logged with its plugin name."""
        return [res for _, res in self._call_guarded(hook, (), **kwargs)]

    def _call_guarded(
        self, hook: str, skip: Collection[str], /, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """:meth:`call_guarded` but for the plugins named in ``skip``, each result with the
        name of the plugin that returned it."""
        results = []
        caller = getattr(self.pm.hook, hook)
        skip = self._registered_names(skip) if skip else skip
        for impl in reversed(caller.get_hookimpls()):
            if impl.plugin_name in skip:
                continue
            try:
                args = [kwargs[a] for a in impl.argnames]
                res = impl.function(*args)
            except Exception as exc:
                from .driver_errors import describe_exception, driver_code_location

                log.error(
                    "plugin %r (%s) raised in %s: %s%s",
                    impl.plugin_name, self._origin(impl.plugin_name), hook,
                    describe_exception(exc), driver_code_location(exc),
                )  # fmt: skip
                continue
            if res is not None:
                results.append((impl.plugin_name, res))
        return results

    def _registered_names(self, names: Collection[str]) -> set[str]:
        """``names`` and the names pluggy knows their plugins by: a hook plugin whose module
        is a driver's plugin too is registered under the driver's name, loaded or not yet
        (``-p no:HOOKNAME`` of a load keeps its hooks out of that load all the same)."""
        out = set(names)
        for name in names:
            plugin = self._loaded.get(name)
            if plugin is not None:
                out.add(self.pm.get_name(plugin) or name)
                continue
            ep = next((ep for ep in self._hook_entry_points() if ep.name == name), None)
            if ep is not None and (owner := self._driver_plugin_of(ep.value)):
                out.add(owner)
        return out

    def notify(self, event: str, dev: Any, *, skip: Collection[str] = ()) -> None:
        """Fan a host lifecycle event out to ``netdrv_device_<event>`` hooks, except those
        of the plugins named in ``skip`` (the ``-p no:NAME`` of the load of ``dev``'s
        driver)."""
        hook = f"netdrv_device_{event}"
        if hasattr(self.pm.hook, hook):
            self._call_guarded(hook, skip, dev=dev)
