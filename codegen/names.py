"""One namespace for every global name an emitted module defines.

Classes (one or more per block definition, and the network), the factory function, helper
classes and imports all live in the module's global namespace, and constructor parameters
(the spec's parameter names) are locals that would shadow any global of the same name.  So
names are handed out here, in one place: never a keyword, a builtin, an import, a helper or a
parameter name, never twice (``a_b`` and ``aB`` both want ``AB``: the second gets ``AB2``).
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Iterable

from archc.dsl.names import EMITTED_GLOBALS

_BUILTINS = frozenset(dir(builtins))


def camel(name: str) -> str:
    """``bottleneck`` -> ``Bottleneck``, ``se_resnet50`` -> ``SeResnet50``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Network"


class Namespace:
    """Hands out unique global names for one emitted module."""

    def __init__(self, locals_: Iterable[str] = ()):
        self.taken: set[str] = set(EMITTED_GLOBALS) | set(locals_)

    def free(self, name: str) -> bool:
        return (
            name.isidentifier()
            and not keyword.iskeyword(name)
            and not keyword.issoftkeyword(name)
            and name not in _BUILTINS
            and name not in self.taken
        )

    def claim(self, *preferred: str) -> str:
        """The first of ``preferred`` that is free, else the first with a number appended."""
        for name in preferred:
            if self.free(name):
                self.taken.add(name)
                return name
        return self.numbered(preferred[0])

    def numbered(self, base: str) -> str:
        """``base2``, ``base3``, ...: the first that is free."""
        n = 2
        while not self.free(f"{base}{n}"):
            n += 1
        self.taken.add(f"{base}{n}")
        return f"{base}{n}"
