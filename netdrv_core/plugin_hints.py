"""What is wrong with a plugin's entry point or distribution, and what to do about it.

The hints that :mod:`netdrv_core.plugins` adds to an error when a plugin cannot be
listed or loaded: an entry point that names a module its distribution does not
install (a typo in ``pyproject.toml``, which no reinstall mends: the distribution's
``top_level.txt`` or ``RECORD`` says what it installs — not the RECORD of an editable
install, which lists its ``.pth``), a submodule its package lacks, a value that is no
module name, a ``module:attr`` object instead of the plugin module, a ``-p MODULE``
that is not importable, hooks netdrv does not know.

Only error paths need this module: :mod:`netdrv_core.plugins` imports it where an
error is reported, so that ``netdrv drivers`` does not pay for it.  Working out a hint
never hides the error it explains (:func:`hint`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import logging
import re
import sys
from collections.abc import Callable

from . import hookspecs

# Imported by plugins.py only once it is loaded (on an error path): no import cycle.
from .plugins import _dist_origin, _find_module, _module_spec

log = logging.getLogger("netdrv.plugins")


def hint(build: Callable[[], str]) -> str:
    """``build()``, or ``""`` when it raises: an error while working out what to suggest
    (odd metadata, an unreadable directory) must never hide the error it explains."""
    try:
        return build()
    except Exception:
        log.debug("working out a hint failed", exc_info=True)
        return ""


def editable(dist: md.Distribution) -> bool:
    """Whether ``dist`` is an editable install (PEP 660 ``direct_url.json``, or a ``.pth``
    in its RECORD): its RECORD lists a ``.pth`` and finder modules, not the project's."""
    with contextlib.suppress(Exception):
        import json

        info = json.loads(dist.read_text("direct_url.json") or "{}")
        if isinstance(info, dict) and (info.get("dir_info") or {}).get("editable"):
            return True
    with contextlib.suppress(Exception):
        return any(str(f).endswith(".pth") for f in dist.files or ())
    return True  # a RECORD that cannot be read is no evidence either


def editable_typo_note(ep: md.EntryPoint) -> str:
    """For an editable install whose metadata does not list its modules: the entry point
    may name one the project lacks (``""`` for any other install)."""
    dist = ep.dist
    if dist is None or not editable(dist) or dist_modules(ep):
        return ""
    return (
        f'; or the entry point {ep.name} = "{ep.value}" names a module the project does '
        f'not have: check it under [project.entry-points."{ep.group}"] in its pyproject.toml'
    )


def dist_modules(ep: md.EntryPoint) -> list[str]:
    """The top-level modules and packages (namespace packages too) the distribution of
    ``ep`` installs, as its metadata says: setuptools' ``top_level.txt`` (written for
    editable installs too), else the files of its ``RECORD``; ``[]`` when the metadata
    does not say — an editable install by another backend (hatchling, pdm, flit) lists
    only its ``.pth`` and finder modules."""
    dist = ep.dist
    if dist is None:
        return []
    try:
        text = dist.read_text("top_level.txt") or ""
    except Exception:  # unreadable metadata: nothing to compare with
        text = ""
    names = {n.strip().replace("/", ".").partition(".")[0] for n in text.splitlines()}
    names.discard("")
    if names or editable(dist):
        return sorted(names)
    for f in dist.files or ():
        parts = f.parts
        if not parts or ".." in parts or parts[0] == "__pycache__" or parts[0].startswith("/"):
            continue
        if parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0].startswith(
            "__editable__"
        ):
            continue
        if len(parts) == 1 and parts[0].endswith((".py", ".so", ".pyd")):
            names.add(parts[0].partition(".")[0])
        elif len(parts) > 1 and parts[-1].endswith((".py", ".so", ".pyd")):
            names.add(parts[0])  # a package, a namespace package
    return sorted(names)


def entry_point_syntax(ep: md.EntryPoint) -> str:
    """What to do when ``ep``'s value is not ``module[:attr]`` (a path, a file name);
    ``""`` when it is."""
    if re.fullmatch(r"\s*[\w.]+\s*(:\s*[\w.]+\s*)?(\[.*\]\s*)?", ep.value):
        return ""
    guess = re.sub(r"\.py$", "", ep.value.strip()).replace("/", ".").replace("\\", ".")
    fix = f' ({ep.name} = "{guess}"?)' if re.fullmatch(r"[\w.]+", guess) else ""
    return (
        f'the entry point {ep.name} = "{ep.value}" is not a module name: name the plugin '
        f"module as in an import{fix}"
    )


def submodule_typo(ep: md.EntryPoint, module: str) -> str:
    """What to do when a package of ``module`` (``pkg.sub``) is importable but the next
    name is not one of its modules; ``""`` when that is not so."""
    import pkgutil

    parts = module.split(".")
    for i in range(1, len(parts)):
        parent = _module_spec(".".join(parts[:i]))
        if parent is None:
            return ""
        if _module_spec(".".join(parts[: i + 1])) is not None:
            continue
        locations = list(parent.submodule_search_locations or ())
        subs = sorted({m.name for m in pkgutil.iter_modules(locations)} - {"__main__"})
        import difflib  # only for error messages: not at start-up

        close = difflib.get_close_matches(parts[i], subs, n=1)
        fix = ".".join([*parts[:i], close[0], *parts[i + 1 :]]) if close else ""
        return (
            f'the entry point {ep.name} = "{ep.value}" names module {module!r}, which is '
            f"not in package {'.'.join(parts[:i])!r} (it has {', '.join(subs) or 'no modules'}"
            f'): correct it under [project.entry-points."{ep.group}"] in the project\'s '
            f"pyproject.toml" + (f' ({ep.name} = "{fix}"?)' if fix else "")
            + ", then pip install -e DIR again"
        )  # fmt: skip
    return ""


def entry_point_typo(ep: md.EntryPoint) -> str:
    """What to do when ``ep`` names a module its own distribution does not install — a
    typo in the entry point of ``pyproject.toml``, which no reinstall mends; ``""`` when
    the distribution installs it (or its metadata does not say).  Never raises."""
    return hint(lambda: _entry_point_typo_of(ep))


def _entry_point_typo_of(ep: md.EntryPoint) -> str:
    if syntax := entry_point_syntax(ep):
        return syntax
    module = ep.value.partition(":")[0].strip()
    top = module.split(".")[0]
    if _find_module(top)[0]:
        return submodule_typo(ep, module)
    modules = dist_modules(ep)
    if not modules or top in modules:
        return ""
    import difflib  # only for error messages: not at start-up

    close = difflib.get_close_matches(top, modules, n=1)
    if not close and len(modules) > 1:  # not a typo of one of them: no guess
        return (
            f'the entry point {ep.name} = "{ep.value}" names module {top!r}, which '
            f"{_dist_origin(ep)} does not install (it installs {', '.join(modules)}): name "
            f'one of its modules under [project.entry-points."{ep.group}"] in the project\'s '
            f"pyproject.toml, or install the distribution that provides it"
        )
    fixed = (close[0] if close else modules[0]) + module[len(top) :]
    return (
        f'the entry point {ep.name} = "{ep.value}" names module {top!r}, which '
        f"{_dist_origin(ep)} does not install (it installs {', '.join(modules)}): correct it "
        f'under [project.entry-points."{ep.group}"] in the project\'s pyproject.toml '
        f'({ep.name} = "{fixed}"?), then pip install -e DIR again'
    )


def names_an_object(ep: md.EntryPoint) -> str:
    """What to do when ``ep`` (``module:attr``) names something in a module, not the plugin
    module; ``""`` for an entry point that names a module."""
    module, sep, _attr = ep.value.partition(":")
    if not sep:
        return ""
    return (
        f'the entry point {ep.name} = "{ep.value}" names an object in a module; a netdrv '
        f'entry point names the plugin module itself ({ep.name} = "{module.strip()}"), the '
        f"one with the @hookimpl functions (netdrv_drivers returns the driver classes)"
    )


def extra_not_found(module: str) -> str:
    """The error of a ``-p MODULE`` module that is not importable, and what to do."""
    return (
        f"plugin module {module!r} (-p {module}) not found: check the name, install the "
        f"distribution that provides it for this Python ({sys.executable}), or add its "
        f"directory to PYTHONPATH"
    )


def unknown_hooks(plugin: object, exc: Exception) -> str:
    """``unknown hook 'netdrv_driver' (did you mean netdrv_drivers?)`` for a PluginError."""
    known = sorted(n for n in dir(hookspecs) if n.startswith("netdrv_"))
    unknown = []
    for attr in dir(plugin):
        try:
            opts = getattr(getattr(plugin, attr, None), "netdrv_impl", None)
        except Exception:  # a property of a plugin object that raises: not a hook
            continue
        if isinstance(opts, dict):
            spec = opts.get("specname") or attr
            if spec not in known:
                unknown.append(spec)
    if not unknown:
        return f"unknown hooks: {exc}"
    import difflib  # only for error messages: not at start-up

    parts = []
    for hook in unknown:
        close = difflib.get_close_matches(hook, known, n=1)
        parts.append(f"{hook!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    return f"unknown hooks: {', '.join(parts)}; netdrv's hooks are {', '.join(known)}"
