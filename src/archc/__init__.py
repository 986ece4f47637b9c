"""archc: a compiler for neural-network architectures.

The pipeline reads in one direction: parse (:mod:`archc.dsl.parser`), resolve a network
(:mod:`archc.dsl.resolve`), expand it into a layer graph (:mod:`archc.dsl.elaborate`), analyse
(:mod:`archc.dsl.analysis`), then the backends (:mod:`archc.codegen`, :mod:`archc.render`).
"""

from archc.api import Compiled, compile_spec, load
from archc.dsl.diagnostics import ArchcError, Diagnostic, Span, UsageError

__all__ = ["ArchcError", "Compiled", "Diagnostic", "Span", "UsageError", "compile_spec", "load"]
__version__ = "0.1.0"
