"""Names and schemas of actions that installed plugins register (entry-point group
``tea_lsp.actions``), read without importing the runner.

A plugin's entry point loads to an action spec (any object with ``name`` and ``schema``), an
iterable of them, or a callable ``register(registry)``; the callable receives a collector that
records what it registers. The runner binds the same entry points to their functions itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.machinery import PathFinder
from typing import Any

ENTRY_POINT_GROUP = "tea_lsp.actions"


@dataclass(slots=True)
class PluginActions:
    """Plugin actions by name (their ``with:`` schema, ``None`` when they give none)."""

    schemas: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def register(self, spec: Any) -> None:
        """What a plugin's ``register(registry)`` calls."""
        name = getattr(spec, "name", None)
        if not isinstance(name, str):
            raise TypeError(f"expected an action spec with a 'name', got {type(spec).__name__}")
        schema = getattr(spec, "schema", None)
        self.schemas[name] = schema if isinstance(schema, Mapping) else None

    def add(self, obj: Any) -> None:
        if hasattr(obj, "name") and hasattr(obj, "schema"):
            self.register(obj)
        elif callable(obj):
            obj(self)
        elif isinstance(obj, Iterable):
            for item in obj:
                self.register(item)
        else:
            raise TypeError(f"expected an action spec or register(registry), got {obj!r}")


def _may_declare(group: str) -> bool:
    """Whether some installed distribution may declare entry points of ``group``.

    ``False`` only when every distribution is a ``*.dist-info`` / ``*.egg-info`` directory
    on ``sys.path`` whose ``entry_points.txt`` does not name the group: then there is nothing
    to load, and ``importlib.metadata`` (slow to import) is not needed.
    """
    if any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path):
        return True  # another source of distributions
    wanted = group.encode()
    for entry in sys.path:
        root = entry or "."
        try:
            with os.scandir(root) as it:
                names = [d.name for d in it if d.name.endswith((".dist-info", ".egg-info"))]
        except NotADirectoryError:
            return True  # a zip archive or an egg on the path
        except OSError:
            continue  # missing or unreadable: importlib.metadata finds nothing there either
        for name in names:
            try:
                with open(os.path.join(root, name, "entry_points.txt"), "rb") as f:
                    if wanted in f.read():
                        return True
            except FileNotFoundError:
                continue
            except OSError:
                return True
    return False


def load_plugin_actions(group: str = ENTRY_POINT_GROUP) -> PluginActions:
    """Collect every plugin action; a broken entry point is recorded in ``errors``."""
    found = PluginActions()
    if not _may_declare(group):
        return found
    from importlib import metadata

    try:
        eps = list(metadata.entry_points(group=group))
    except Exception as exc:  # a broken installation must not stop the checker
        found.errors.append(f"cannot list entry points '{group}': {exc}")
        return found
    for ep in eps:
        try:
            found.add(ep.load())
        except Exception as exc:  # user code: report, never crash
            found.errors.append(f"action entry point '{ep.name}': {exc}")
    return found


@cache
def plugin_actions() -> PluginActions:
    """The installed plugins' actions (cached per process)."""
    return load_plugin_actions()
