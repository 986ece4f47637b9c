"""Line breaking for emitted code, in the style ``ruff format`` keeps.

A line that fits stays as it is.  A longer one is split at the arguments of its last
top-level bracket pair, one argument per line with a trailing comma (which ``ruff format``
then keeps exploded), recursively for arguments that are still too long.
"""

from __future__ import annotations

import re

WIDTH = 88
# What may follow the bracket that gets exploded: closing brackets, a comma or colon, an index.
_TAIL = re.compile(r"^[)\]}]+(\[\d+\])?[,:]?$|^\) -> [\w\[\], ]+:$")
_OPEN = {"(": ")", "[": "]", "{": "}"}


def layout(line: str, indent: int, width: int = WIDTH) -> list[str]:
    pad = " " * indent
    if len(pad) + len(line) <= width:
        return [pad + line]
    split = _outer_split(line)
    if split is None:
        return [pad + line]
    head, args, tail = split
    out = [pad + head]
    comprehension = _top_level_for(args[0]) if len(args) == 1 else -1
    if comprehension > 0 and len(args[0]) + indent + 4 <= width:  # a generator expression that fits
        out.append(" " * (indent + 4) + args[0])
    elif comprehension > 0:  # one that does not: element and clause on their own lines
        out.extend(layout(args[0][:comprehension].rstrip(), indent + 4, width))
        out.extend(layout(args[0][comprehension:].strip(), indent + 4, width))
    else:
        for arg in args:
            out.extend(layout(arg + ",", indent + 4, width))
    out.append(pad + tail)
    return out


def _top_level_for(text: str) -> int:
    depth = 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(" for ", i):
            return i + 1
    return -1


def _outer_split(line: str) -> tuple[str, list[str], str] | None:
    """``head(`` + arguments + ``)tail`` around the first top-level bracket that spans the line."""
    depth = 0
    start = -1
    in_str: str | None = None
    for i, ch in enumerate(line):
        if in_str:
            if ch == in_str:
                in_str = None
            continue
        if ch in "\"'":
            in_str = ch
        elif ch in _OPEN:
            if depth == 0 and start < 0:
                start = i
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0 and start >= 0:
                if not _TAIL.match(line[i:]):  # the bracket closes mid-line: not a call to explode
                    start = -1
                    continue
                inner = line[start + 1 : i]
                args = _split_args(inner)
                if not args:
                    start = -1
                    continue
                return line[: start + 1], args, line[i:]
    return None


def _split_args(inner: str) -> list[str]:
    args: list[str] = []
    depth = 0
    current: list[str] = []
    in_str: str | None = None
    for ch in inner:
        if in_str:
            current.append(ch)
            if ch == in_str:
                in_str = None
            continue
        if ch in "\"'":
            in_str = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    last = "".join(current).strip()
    if last:
        args.append(last)
    return args
