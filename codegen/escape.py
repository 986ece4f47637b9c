"""The one rule for text that reaches a generated file.

Everything written into emitted code that is not a validated identifier or a number passes
through :func:`escape_text`: file paths in headers, names in docstrings, messages of
``require`` checks.  It keeps printable characters and escapes everything else (newlines,
quotes, backslashes, NUL, bidirectional controls, unpaired surrogates), so that the text can
neither end a string, a docstring or a comment nor look different from what it is.
"""

from __future__ import annotations

import unicodedata

# Characters that change how text is displayed without being visible: bidirectional
# controls and isolates, zero-width characters, the BOM.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def escape_text(text: str, *, comment: bool = False, literal: bool = False) -> str:
    """``text`` with every character that could end or disguise a Python string, docstring or
    comment written as an escape sequence (``\\n``, ``\\"``, ``\\u202e``, ...).  In a
    ``comment`` only line breaks and invisible characters can do harm, so quotes and
    backslashes stay as they are.  A lone surrogate is shown as the byte it stands for
    (``\\xff``), except in a string ``literal``, which must evaluate to ``text``."""
    out: list[str] = []
    for ch in text:
        if comment and ch in "\\\"'":
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "'":
            out.append("\\'")
        elif ch.isprintable() and ch not in _INVISIBLE and unicodedata.category(ch) not in ("Cs", "Co", "Cn"):
            out.append(ch)
        elif unicodedata.category(ch) == "Cs" and not literal:
            # a lone surrogate (a file name's byte that is not UTF-8, as os.fsdecode reads it)
            # cannot be in a docstring (the module would not import) or a comment: it is written
            # as visible text, the byte it stands for (``\xff``); a string ``literal`` keeps it
            n = ord(ch)
            shown = f"x{n - 0xDC00:02x}" if 0xDC80 <= n <= 0xDCFF else f"u{n:04x}"
            out.append(("\\" if comment else "\\\\") + shown)
        else:
            n = ord(ch)
            out.append(f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
    return "".join(out)


def py_str(text: str) -> str:
    """A Python string literal that evaluates to ``text``."""
    return '"' + escape_text(text, literal=True) + '"'
