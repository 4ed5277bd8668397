"""The plugin registry: pluggy discovers providers, one dict per kind stores what they return.

Built-in plugins are imported by name from ``DEFAULT_PLUGINS``; third-party plugins come only from
installed distributions' entry points in the group ``ganzoo`` (unless the environment variable
``GANZOO_DISABLE_PLUGIN_AUTOLOAD`` is set to a true value). Every ``register_*`` hook is called once;
each returned spec goes through one validating :meth:`Registry._add`, which rejects a second
component of the same kind and name with an error naming both plugins.

There is no process-wide registry: each entry point (a CLI command, a bench worker) builds one with
:func:`load_registry` and passes it down to whatever needs it.

A third-party plugin that fails to load (its import or one of its hooks raises) must not take the
whole tool down: it is kept in ``plugins`` with its ``error``, reported once on stderr in one line
naming the distribution, the entry point and ``GANZOO_DISABLE_PLUGIN_AUTOLOAD=1``, and every command
that does not need its components works (``ganzoo plugins`` lists it as broken).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ganzoo import hookspecs
from ganzoo.errors import ConfigError, PluginError
from ganzoo.specs import KINDS, SINGULAR

DEFAULT_PLUGINS = (
    "ganzoo_biggan",
    "ganzoo_datasets",
    "ganzoo_losses",
    "ganzoo_metrics",
    "ganzoo_pggan",
    "ganzoo_regularizers",
    "ganzoo_selfmod",
)
ENTRY_POINT_GROUP = "ganzoo"
AUTOLOAD_ENV = "GANZOO_DISABLE_PLUGIN_AUTOLOAD"


@dataclass
class PluginInfo:
    """One loaded plugin: its name, version, origin and what it registered."""

    name: str
    version: str
    origin: str  # "built-in" or "entry point <dist>==<version>"
    module: str
    components: dict[str, list[str]] = field(default_factory=dict)
    entry_point: str | None = None  # "name = module:attr" for third-party plugins
    error: str | None = None  # why a third-party plugin failed to load (then it registers nothing)


def autoload_enabled() -> bool:
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() in ("", "0", "false", "no")


class Registry:
    """Every registered component, by kind and name, plus the plugins that provided them."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._components: dict[str, dict[str, tuple[Any, str]]] = {k: {} for k in KINDS}

    # -- loading ---------------------------------------------------------------------------------
    def register_plugin(self, module: Any, name: str, version: str, origin: str) -> None:
        if name in self.plugins:
            raise PluginError(
                f"two plugins are called {name!r}: {self.plugins[name].origin} and {origin}"
            )
        self.pm.register(module, name=name)
        self.plugins[name] = PluginInfo(name, version, origin, getattr(module, "__name__", name))

    def load_builtins(self) -> None:
        from ganzoo import __version__

        for modname in DEFAULT_PLUGINS:
            module = importlib.import_module(modname)
            self.register_plugin(module, modname, __version__, "built-in")

    def load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            version = dist.version if dist is not None else "?"
            origin = f"entry point {dist_name}=={version}"
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must say which one it is
                info = PluginInfo(ep.name, version, origin, ep.value.split(":")[0],
                                  entry_point=f"{ep.name} = {ep.value}")
                self._broken(info, exc)
                continue
            self.register_plugin(module, ep.name, version, origin)
            self.plugins[ep.name].entry_point = f"{ep.name} = {ep.value}"

    def _broken(self, info: PluginInfo, exc: BaseException) -> None:
        """Keep a plugin that failed to load as broken, and say so in one line on stderr."""
        info.error = " ".join(f"{type(exc).__name__}: {exc}".split())
        info.components = {}
        self.plugins[info.name] = info
        logging.getLogger("ganzoo").warning(
            "ganzoo: plugin %r from %s (entry point '%s') failed to load and is skipped: %s; "
            "set %s=1 to skip third-party plugins", info.name, info.origin.removeprefix("entry point "),
            info.entry_point, info.error, AUTOLOAD_ENV)

    def collect(self) -> None:
        """Call every register_* hook of every plugin and store the specs."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from exc
        for kind, spec_type in KINDS.items():
            hook = getattr(self.pm.hook, f"register_{kind}")
            for impl in hook.get_hookimpls():
                info = self.plugins[impl.plugin_name]
                if info.error is not None:
                    continue
                try:
                    specs = impl.function() or []
                except Exception as exc:
                    if info.origin == "built-in":
                        raise
                    self._drop(info)  # a third-party hook that raises: the plugin is broken
                    self._broken(info, exc)
                    continue
                for spec in specs:
                    if not isinstance(spec, spec_type):
                        raise PluginError(
                            f"plugin {impl.plugin_name!r}: register_{kind} returned "
                            f"{type(spec).__name__}, expected {spec_type.__name__}"
                        )
                    self._add(kind, spec, impl.plugin_name)

    def _drop(self, info: PluginInfo) -> None:
        """Forget what a plugin registered before one of its hooks failed."""
        for kind, names in info.components.items():
            for name in names:
                self._components[kind].pop(name, None)

    def _add(self, kind: str, spec: Any, plugin: str) -> None:
        name = spec.name
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise PluginError(f"plugin {plugin!r} registers a {SINGULAR[kind]} with a bad name {name!r}")
        bad = _bad_field(kind, spec)
        if bad:
            raise PluginError(f"plugin {plugin!r}: {SINGULAR[kind]} {name!r}: {bad}")
        table = self._components[kind]
        if name in table:
            raise PluginError(
                f"duplicate {SINGULAR[kind]} name {name!r}: registered by plugin {table[name][1]!r} "
                f"and by plugin {plugin!r}"
            )
        table[name] = (spec, plugin)
        self.plugins[plugin].components.setdefault(kind, []).append(name)

    # -- lookup ----------------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def get(self, kind: str, name: str, where: str = "") -> Any:
        """The spec of ``kind`` called ``name``; a ConfigError listing the available names otherwise."""
        try:
            return self._components[kind][name][0]
        except KeyError:
            label = f"{where}: " if where else ""
            avail = ", ".join(self.names(kind)) or "(none)"
            broken = [f"{p.name} ({p.origin})" for p in self.plugins.values() if p.error is not None]
            note = f" (plugin(s) that failed to load: {', '.join(broken)})" if broken else ""
            raise ConfigError(
                f"{label}unknown {SINGULAR[kind]} {name!r}; available: {avail}{note}"
            ) from None

    def provider(self, kind: str, name: str) -> str:
        return self._components[kind][name][1]


def _bad_field(kind: str, spec: Any) -> str:
    """What is wrong with a spec's plain fields (directions of metrics, intervals of regularizers)."""
    if kind == "metrics":
        for key, way in dict(spec.better).items():
            if way not in ("lower", "higher"):
                return f"better[{key!r}] is {way!r}; use 'lower' or 'higher'"
    if kind == "regularizers" and not (isinstance(spec.interval, int) and spec.interval >= 1):
        return f"interval must be an integer >= 1, got {spec.interval!r}"
    return ""


def load_registry(autoload: bool | None = None, extra: list[tuple[Any, str]] = ()) -> Registry:
    """Build a registry: built-ins, then entry points (if autoload), then ``extra`` (module, name) pairs."""
    reg = Registry()
    reg.load_builtins()
    if autoload if autoload is not None else autoload_enabled():
        reg.load_entry_points()
    for module, name in extra:
        reg.register_plugin(module, name, "-", "in-process")
    reg.collect()
    return reg
