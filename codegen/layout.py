"""Line breaking for emitted code, in the style ``ruff format`` keeps.

A line that fits stays as it is.  A longer one is split at the arguments of its last
top-level bracket pair, one argument per line with a trailing comma (which ``ruff format``
then keeps exploded), recursively for arguments that are still too long.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

WIDTH = 88
# What may follow the bracket that gets exploded: closing brackets, a comma or colon, an index.
_TAIL = re.compile(r"^[)\]}]+(\[\d+\])?[,:]?$|^\) -> [\w\[\], ]+:$")
_OPEN = "([{"
_CLOSE = ")]}"


def layout(line: str, indent: int, width: int = WIDTH) -> list[str]:
    pad = " " * indent
    if len(pad) + len(line) <= width:
        return [pad + line]
    split = _outer_split(line)
    if split is None:
        return [pad + line]
    head, args, tail = split
    out = [pad + head]
    grouping = head.endswith("(") and not re.search(r"[\w)\]]$", head[:-1]) and len(args) == 1
    if grouping and _top_level_for(args[0]) < 0:
        # parentheses that group (``*([a, b] if c else [])``), not a call: no trailing comma
        ternary = _top_level_ternary(args[0])
        if ternary is None:
            out.extend(layout(args[0], indent + 4, width))
        else:
            then, cond, other = ternary
            out.extend(layout(then, indent + 4, width))
            out.extend(layout(f"if {cond}", indent + 4, width))
            out.extend(layout(f"else {other}", indent + 4, width))
        out.append(pad + tail)
        return out
    comprehension = _top_level_for(args[0]) if len(args) == 1 else -1
    if comprehension > 0 and len(args[0]) + indent + 4 <= width:  # a generator expression that fits
        out.append(" " * (indent + 4) + args[0])
    elif comprehension > 0:  # one that does not: element and clause on their own lines
        out.extend(layout(args[0][:comprehension].rstrip(), indent + 4, width))
        out.extend(layout(args[0][comprehension:].strip(), indent + 4, width))
    else:
        for arg in args:
            keyword = re.match(r"(\w+=)(?!=)(.*)$", arg)
            name, value = (keyword.group(1), keyword.group(2)) if keyword else ("", arg)
            if _binary_split(value) is not None:  # a size like (c + 6 * g) // 2 + 12 * g
                out.extend(_layout_binary(name, value, ",", indent + 4, width))
            else:
                out.extend(layout(arg + ",", indent + 4, width))
    out.append(pad + tail)
    return out


# Binary operators by precedence, lowest first, as emitted code writes them (spaced).
_BINARY = ((" + ", " - "), (" * ", " // ", " / ", " % "))
_NOT_ARITHMETIC = re.compile(r" (if|else|for|and|or|not|in|is|lambda) |[=<>!]")


def _binary_split(expr: str) -> list[tuple[str, str]] | None:
    """An arithmetic argument cut before its top-level operators of the lowest precedence it has,
    as (operator, operand) pairs (the first operator is empty); None for anything else."""
    top = "".join(ch if depth == 0 else " " for _, ch, depth in _scan(expr))
    if len(top) != len(expr) or _NOT_ARITHMETIC.search(top):
        return None  # a string, a keyword argument, a comparison or a ternary: not ours to split
    for ops in _BINARY:
        cuts = [(i, op) for i in range(1, len(top)) for op in ops if top.startswith(op, i)]
        if cuts:
            parts = [("", expr[: cuts[0][0]].strip())]
            for (i, op), (j, _) in zip(cuts, [*cuts[1:], (len(expr), "")], strict=True):
                parts.append((op.strip(), expr[i + len(op) : j].strip()))
            return parts
    return None


def _layout_binary(prefix: str, expr: str, suffix: str, indent: int, width: int) -> list[str]:
    """``prefix + expr + suffix`` the way ``ruff format`` breaks a long arithmetic argument: one
    operand per line, each after its operator, at the lowest precedence first; an operand still
    too long is cut at its own operators, and a parenthesised one opens onto lines of its own."""
    pad = " " * indent
    if indent + len(prefix + expr + suffix) <= width:
        return [pad + prefix + expr + suffix]
    parts = _binary_split(expr)
    if parts is not None:
        out: list[str] = []
        for n, (op, operand) in enumerate(parts):
            head = prefix if n == 0 else op + " "
            out.extend(_layout_binary(head, operand, suffix if n == len(parts) - 1 else "", indent, width))
        return out
    if expr.startswith("(") and _closes_at_end(expr):
        inner = _layout_binary("", expr[1:-1], "", indent + 4, width)
        return [pad + prefix + "(", *inner, pad + ")" + suffix]
    return layout(prefix + expr + suffix, indent, width)


def _closes_at_end(expr: str) -> bool:
    """Whether the bracket opening ``expr`` closes at its last character."""
    for i, ch, depth in _scan(expr):
        if ch in _CLOSE and depth == 1:
            return i == len(expr) - 1
    return False


def _scan(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth before it) for every character outside string literals."""
    depth = 0
    quote: str | None = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
            continue
        yield i, ch, depth
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1


def _top_level_ternary(text: str) -> tuple[str, str, str] | None:
    """``a if c else b`` at the top level of ``text``, as its three parts."""
    at_if = at_else = -1
    for i, _, depth in _scan(text):
        if depth == 0 and at_if < 0 and text.startswith(" if ", i):
            at_if = i
        elif depth == 0 and at_if >= 0 and text.startswith(" else ", i):
            at_else = i
            break
    if at_if < 0 or at_else < 0:
        return None
    return text[:at_if].strip(), text[at_if + 4 : at_else].strip(), text[at_else + 6 :].strip()


def _top_level_for(text: str) -> int:
    for i, _, depth in _scan(text):
        if depth == 0 and text.startswith(" for ", i):
            return i + 1
    return -1


def _outer_split(line: str) -> tuple[str, list[str], str] | None:
    """``head(`` + arguments + ``)tail`` around the first top-level bracket that spans the line."""
    start = -1
    for i, ch, depth in _scan(line):
        if ch in _OPEN and depth == 0:
            start = i
        elif ch in _CLOSE and depth == 1 and start >= 0:
            if _TAIL.match(line[i:]):  # a bracket closing mid-line is not a call to explode
                args = _split_args(line[start + 1 : i])
                if args:
                    return line[: start + 1], args, line[i:]
            start = -1
    return None


def _split_args(inner: str) -> list[str]:
    """``inner`` cut at its top-level commas."""
    args: list[str] = []
    last = 0
    for i, ch, depth in _scan(inner):
        if ch == "," and depth == 0:
            args.append(inner[last:i].strip())
            last = i + 1
    if inner[last:].strip():
        args.append(inner[last:].strip())
    return args
