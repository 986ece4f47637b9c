"""Ops from other Python packages: the ``archc.ops`` entry-point group.

A package adds ops by declaring one entry point per op name (and per alias) it provides, each
naming the module that registers them, or a callable that does, or the :class:`Op` subclass
itself::

    [project.entry-points."archc.ops"]
    mish = "archc_plugin_example.ops"
    squeeze_excite = "archc_plugin_example.ops"

The registry reads these declarations only when a spec names an op it lacks (or when
``archc ops`` lists everything), and imports only the module that declares that name: a spec
that uses built-in ops never imports a plugin, and a spec never imports anything by itself -
its names only choose among the packages the user installed.  Declaring every name keeps that
lookup exact: a plugin that registers a name its package does not declare is refused.

Whatever goes wrong in a plugin (its import fails, it registers a name that is taken, a name it
declares never appears) is one :class:`PluginError` naming the plugin and its package, never a
traceback, and the registry is left as it was before the plugin was imported.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from archc.dsl.diagnostics import ArchcError, Diagnostic, Span
from archc.dsl.ops.base import ALIASES, REGISTRY, Op, RegistrationError, register

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "archc.ops"


class PluginError(ArchcError):
    """A plugin that cannot be loaded: one message naming the plugin and its package."""

    @classmethod
    def about(cls, ep: EntryPoint, message: str, hint: str | None = None) -> PluginError:
        return cls([Diagnostic(Span(f"plugin '{ep.name}' ({_package(ep)})", 0, 0), message, hint)])


@dataclass
class _State:
    index: dict[str, list[EntryPoint]] | None = None  # declared name -> entry points declaring it
    loaded: set[tuple[str, str]] = field(default_factory=set)  # (package, target) already imported
    provider: dict[str, str] = field(default_factory=dict)  # op name -> the package that added it


_state = _State()


def reset() -> None:
    """Forget the scanned declarations (after installing a package into a running process, and
    in tests).  Ops already registered stay registered."""
    global _state
    _state = _State()


def declared() -> dict[str, list[EntryPoint]]:
    """Every name the installed packages declare in ``archc.ops``, read once per process."""
    if _state.index is None:
        from importlib.metadata import entry_points

        index: dict[str, list[EntryPoint]] = {}
        for ep in entry_points(group=GROUP):
            index.setdefault(ep.name, []).append(ep)
        _state.index = index
    return _state.index


def provider_of(name: str) -> str | None:
    """The package (``name version``) that added op ``name``; None for a built-in op."""
    return _state.provider.get(name)


def load_plugin_for(name: str) -> bool:
    """Import the plugin that declares ``name``, if one does; True when it did and registered it."""
    eps = declared().get(name)
    if not eps:
        return False
    packages = sorted({_package(ep) for ep in eps})
    if len(packages) > 1:
        raise PluginError.about(
            eps[0],
            f"op '{name}' is declared by {len(packages)} packages: {', '.join(packages)}",
            "uninstall all but one of them",
        )
    ep = eps[0]
    _load(ep)
    if name not in REGISTRY and name not in ALIASES:
        raise PluginError.about(
            ep,
            f"the package declares op '{name}', but importing '{ep.value}' registered no op of that name",
            "register it with @register (or fix the entry point's name)",
        )
    return True


def load_all() -> None:
    """Import every installed plugin (for ``archc ops``); one error lists every plugin that failed,
    after the others have loaded."""
    problems: list[Diagnostic] = []
    for name in sorted(declared()):
        if name in REGISTRY or name in ALIASES:
            continue
        try:
            load_plugin_for(name)
        except PluginError as e:
            problems.extend(e.diagnostics)
    if problems:
        raise PluginError(problems)


def _package(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown package"


def _load(ep: EntryPoint) -> None:
    key = (_package(ep), ep.value)
    if key in _state.loaded:
        return
    before = (dict(REGISTRY), dict(ALIASES))
    try:
        target: Any = ep.load()
        if inspect.isclass(target) and issubclass(target, Op):
            register()(target)
        elif not isinstance(target, ModuleType):
            if not callable(target):
                raise RegistrationError(f"'{ep.value}' is neither a module, a callable nor an Op subclass")
            target()
    except RegistrationError as e:
        _restore(before)
        if e.taken_by is None:
            raise PluginError.about(ep, str(e), "fix the op's declaration") from None
        who = _state.provider.get(e.taken_by)
        where = f"'{e.taken_by}' comes from {who}" if who else f"'{e.taken_by}' is built into archc"
        raise PluginError.about(ep, f"{e}; {where}", "rename the plugin's op") from None
    except Exception as e:  # the plugin's own code failed: report it, keep archc running
        _restore(before)
        raise PluginError.about(
            ep,
            f"importing '{ep.value}' failed: {type(e).__name__}: {e}",
            f"fix or uninstall the package ({_package(ep)}); `archc ops` lists what plugins add",
        ) from None
    added = [n for n in REGISTRY if n not in before[0]] + [n for n in ALIASES if n not in before[1]]
    mine = {e.name for e in declared_by(_package(ep))}
    undeclared = [n for n in added if n not in mine]
    if undeclared:
        _restore(before)
        raise PluginError.about(
            ep,
            f"'{ep.value}' registers op '{undeclared[0]}', which its package does not declare",
            f'declare every op name and alias: {undeclared[0]} = "{ep.value}" under '
            '[project.entry-points."archc.ops"]',
        )
    _state.loaded.add(key)
    for n in added:
        _state.provider[ALIASES.get(n, n)] = _package(ep)


def declared_by(package: str) -> list[EntryPoint]:
    return [ep for eps in declared().values() for ep in eps if _package(ep) == package]


def _restore(before: tuple[dict[str, Op], dict[str, str]]) -> None:
    REGISTRY.clear()
    REGISTRY.update(before[0])
    ALIASES.clear()
    ALIASES.update(before[1])
