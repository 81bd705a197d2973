"""One registry for what a user plugs in: model families, selection strategies and evaluation tasks.

The built-ins are listed explicitly in their stage package (``models/__init__.py``,
``selection/__init__.py``, ``evaluation/__init__.py``), each a :class:`Registry`: adding one is one
import line there. Plug-ins from outside the package come from two places, loaded by
:func:`load_plugins` in every process (the CLI, each local pool worker, Ray task and SLURM array task)
before a spec is validated:

- Python entry points in the groups ``cellplateau.families``, ``cellplateau.strategies`` and
  ``cellplateau.tasks``; each names a :class:`~cellplateau.models.base.Family`,
  :class:`~cellplateau.selection.base.Strategy` or :class:`~cellplateau.evaluation.base.Task` (or a
  list of them), e.g. ``[project.entry-points."cellplateau.families"] tinymlp = "my_pkg:FAMILY"``;
- the spec's ``plugins: [module, ...]``: dotted module names or ``.py`` files; a module registers the
  objects it defines as ``FAMILY``, ``STRATEGY`` and ``TASK`` (each one object or a list).

A plug-in that fails to import, is not of the expected kind, or whose name clashes with a built-in or
another plug-in stops with a :class:`PluginError` naming it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

KINDS = ("families", "strategies", "tasks")
SINGULAR = {"families": "family", "strategies": "strategy", "tasks": "task"}
MODULE_ATTRIBUTE = {"families": "FAMILY", "strategies": "STRATEGY", "tasks": "TASK"}
ENTRY_POINT_GROUPS = {kind: f"cellplateau.{kind}" for kind in KINDS}

_generation = 0                       # bumped on every registration: the spec rebuilds its unions when it moves
_loaded_entry_points = False
_loaded_modules: set[str] = set()


class PluginError(ValueError):
    """A plug-in cannot be used; the message names it (entry point, module or file) and what is wrong."""


class Registry(dict):
    """``name -> entry`` of one kind, filled with the built-ins at construction; plug-ins are added by
    :meth:`register`, which refuses an entry of the wrong type or a name already taken."""

    def __init__(self, kind: str, entry_type: type, builtins: Iterable[Any]):
        super().__init__((e.name, e) for e in builtins)
        self.kind = kind
        self.entry_type = entry_type
        self.sources = dict.fromkeys(self, "built-in")

    def register(self, entry: Any, *, source: str) -> Any:
        global _generation
        what = SINGULAR[self.kind]
        if not isinstance(entry, self.entry_type):
            raise PluginError(f"plug-in {source}: {MODULE_ATTRIBUTE[self.kind]} is a {type(entry).__name__}, "
                              f"expected a cellplateau {self.entry_type.__name__}")
        name = getattr(entry, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plug-in {source}: the {what} has no name")
        have = self.get(name)
        if have is entry:
            return entry
        if have is not None:
            raise PluginError(f"plug-in {source}: {what} {name!r} clashes with the {self.sources[name]} {what} of "
                              "that name; give it another name")
        self[name] = entry
        self.sources[name] = source
        _generation += 1
        return entry

    def plugins(self) -> dict[str, str]:
        """``{name: source}`` of the entries that are not built-in."""
        return {n: s for n, s in self.sources.items() if s != "built-in"}


def registries() -> dict[str, Registry]:
    """The three registries by kind (importing the stage packages that hold the built-ins)."""
    from cellplateau.evaluation import TASKS
    from cellplateau.models import FAMILIES
    from cellplateau.selection import STRATEGIES

    return {"families": FAMILIES, "strategies": STRATEGIES, "tasks": TASKS}


def generation() -> int:
    """A counter that moves whenever a plug-in is registered."""
    return _generation


def _entries(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def load_entry_points() -> None:
    """Register every installed entry point of the three groups (once per process)."""
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    from importlib.metadata import entry_points

    regs = registries()
    for kind in KINDS:
        for ep in entry_points(group=ENTRY_POINT_GROUPS[kind]):
            dist = f" of {ep.dist.name} {ep.dist.version}" if getattr(ep, "dist", None) else ""
            source = f"entry point {ep.name!r} = {ep.value!r}{dist} (group {ENTRY_POINT_GROUPS[kind]})"
            try:
                value = ep.load()
            except Exception as exc:
                raise PluginError(f"plug-in {source} failed to import: {type(exc).__name__}: {exc}") from None
            for entry in _entries(value):
                if getattr(entry, "name", None) != ep.name and not isinstance(value, list | tuple):
                    raise PluginError(f"plug-in {source}: the entry point is named {ep.name!r} but its "
                                      f"{SINGULAR[kind]} is named {getattr(entry, 'name', None)!r}; use one name")
                regs[kind].register(entry, source=source)
    _loaded_entry_points = True


def _import(module: str):
    """Import a dotted module name, or a ``.py`` file under a name derived from its path."""
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise FileNotFoundError(f"no such file {path}")
        name = f"cellplateau_plugin_{path.stem}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[name]
            raise
        return mod
    return importlib.import_module(module)


def load_module(module: str) -> None:
    """Import one plug-in module named in a spec and register its ``FAMILY`` / ``STRATEGY`` / ``TASK``."""
    if module in _loaded_modules:
        return
    source = f"module {module!r} (spec plugins)"
    try:
        mod = _import(module)
    except Exception as exc:
        raise PluginError(f"plug-in {source} failed to import: {type(exc).__name__}: {exc}") from None
    regs = registries()
    found = False
    for kind in KINDS:
        if hasattr(mod, MODULE_ATTRIBUTE[kind]):
            found = True
            for entry in _entries(getattr(mod, MODULE_ATTRIBUTE[kind])):
                regs[kind].register(entry, source=source)
    if not found:
        raise PluginError(f"plug-in {source} defines none of FAMILY, STRATEGY or TASK")
    _loaded_modules.add(module)


def load_plugins(modules: Iterable[str] = ()) -> None:
    """Register the installed entry points, then the spec's plug-in modules (idempotent)."""
    load_entry_points()
    for module in modules:
        load_module(module)
