"""Text to AST: the Lark grammar in ``grammar/archc.lark``, an indenter, and a transformer.

Syntax errors become :class:`archc.dsl.diagnostics.ArchcError` with a location and a hint; nothing
from Lark escapes this module.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from lark import Lark, Token, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.indenter import DedentError, Indenter
from lark.visitors import Transformer_NonRecursive

from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError, Diagnostic, Span

#: The largest spec file archc reads, in bytes.
MAX_SOURCE_BYTES = 4 * 1024 * 1024
#: The most tokens (names, numbers, operators, brackets, ends of lines) one spec file may hold,
#: counted as the lexer makes them, so that parsing stops within about two seconds whatever the
#: file holds (a list of 400,000 numbers took 15 s).  The largest shipped spec has a few thousand.
MAX_TOKENS = 100_000
#: The deepest nesting a spec may write: brackets of sequences and lists, operators (each ``+`` of
#: ``a + b + c`` is one level), ``not``, conditions, calls of functions, indexing, ``.`` and
#: parenthesised chains.  Far below Python's recursion limit, so that no pass over the tree
#: (elaboration of 32 nested blocks included) can exhaust the stack.
MAX_NESTING = 100
#: Rules of the grammar that are no level of nesting of their own: definitions, statements,
#: arguments and names, a chain (``flow``, unless it is the parenthesised head of another
#: chain) and the element of a sequence (its brackets are the level).  Every other rule counts.
_TRANSPARENT = frozenset(
    {
        "start", "use", "block", "network", "derived", "derived_block", "params", "param", "args",
        "kwarg", "insert", "replace", "remove", "new_layer", "target", "input_stmt", "assign", "ret",
        "flow_stmt", "let_stmt", "require_stmt", "init_stmt", "flow", "element", "call", "spliced",
        "repeat", "int_", "float_", "string", "true", "false", "name", "in_shape", "var",
    }
)  # fmt: skip
#: The longest integer literal, in digits (larger numbers are no sizes).
MAX_INT_DIGITS = 18


class ArchIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar[list[str]] = ["LPAR", "LSQB"]
    CLOSE_PAREN_types: ClassVar[list[str]] = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 4

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        tokens: Iterator[Token] = super().process(_counted(stream))  # type: ignore[no-untyped-call]
        return tokens


class _TooManyTokens(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


def _counted(stream: Iterator[Token]) -> Iterator[Token]:
    """The lexer's tokens, refused past :data:`MAX_TOKENS` before the parser sees one more."""
    for n, token in enumerate(stream, 1):
        if n > MAX_TOKENS:
            raise _TooManyTokens(token)
        yield token


@cache
def _lark() -> Lark:
    grammar = resources.files("archc.grammar").joinpath("archc.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=ArchIndenter(),
        propagate_positions=True,
        maybe_placeholders=True,
        start=["start", "expr"],
        cache=True,
    )


# Terminal names as a person would say them, for "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "SHAPE": "a shape such as 3x224x224",
    "REPEAT": "a repeat such as x4",
    "COLON": "':'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "EQUAL": "'='",
    "_NL": "a new line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "__ANON_0": "'->'",
    "COMP_OP": "a comparison",
    "POSITION": "'after' or 'before'",
    "$END": "the end of the file",
}


def _describe(expected: set[str]) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, _terminal_text(t)) for t in expected})
    if len(words) > 6:
        words = [*words[:6], "..."]
    return ", ".join(words)


def _terminal_text(name: str) -> str:
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return repr(pattern.value)
    return name.lower()


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    if token.type == "_INDENT":
        return "indentation"
    if token.type == "_DEDENT":
        return "end of block"
    return repr(str(token))


def _syntax_error(e: UnexpectedInput, file: str, text: str) -> ArchcError:
    line, col = max(getattr(e, "line", 1) or 1, 1), max(getattr(e, "column", 1) or 1, 1)
    hint: str | None = None
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream if e.pos_in_stream is not None else -1
        char = text[pos] if 0 <= pos < len(text) else "?"
        msg = f"syntax error: unexpected character {char!r}"
        if char == "\t":
            msg = "syntax error: unexpected tab"
        elif not char.isascii():
            hint = "names and operators are ASCII; retype the character"
        else:
            hint = f"expected {_describe(set(e.allowed or ()))}" if e.allowed else None
    elif isinstance(e, UnexpectedToken):
        token = e.token
        if token.type in ("_INDENT", "_DEDENT") and token.end_line:
            line, col = token.end_line, token.end_column or 1
        elif token.type in ("$END", "_DEDENT", "_INDENT", "_NL") and token.line is None:
            line, col = _last_position(text)
        msg = f"syntax error: unexpected {_token_text(token)}"
        expected = set(e.expected or ()) - {"$END"}
        hint = f"expected {_describe(expected)}"
        unclosed = _unclosed_bracket(text, line, col)
        if unclosed:
            hint = f"the '{unclosed[0]}' at {file}:{unclosed[1]}:{unclosed[2]} is never closed; {hint}"
        if token.type == "_INDENT":
            hint = "this line is indented more than the one before; indent only the body of a block"
        elif expected == {"COLON"} or ("COLON" in expected and token.type == "_NL"):
            hint = "a block or network header ends with ':'"
    elif isinstance(e, UnexpectedEOF):
        line, col = _last_position(text)
        msg = "syntax error: unexpected end of file"
        hint = f"expected {_describe(set(e.expected or ()))}"
    else:  # pragma: no cover - Lark has no other kinds
        msg = "syntax error"
    return ArchcError([Diagnostic(Span(file, line, col, line, col + 1), msg, hint)], {file: text})


def _unclosed_bracket(text: str, line: int, col: int) -> tuple[str, int, int] | None:
    """The innermost bracket still open at (line, col), ignoring comments and strings."""
    stack: list[tuple[str, int, int]] = []
    for n, row in enumerate(text.split("\n")[:line], 1):
        end = col - 1 if n == line else len(row)
        in_string = False
        for c, ch in enumerate(row[:end], 1):
            if ch == '"':
                in_string = not in_string
            elif in_string:
                continue
            elif ch == "#":
                break
            elif ch in "([":
                stack.append((ch, n, c))
            elif ch in ")]" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _last_position(text: str) -> tuple[int, int]:
    lines = text.rstrip("\n").split("\n")
    return len(lines), len(lines[-1]) + 1


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the duration (parsing, elaboration).

    Both make millions of small objects and no cycles worth collecting, and every full
    collection walks all the objects alive, so the collector's time grows with the square of
    a spec's size: with it running, elaborating 100,000 layers took 1.7 times as long and grew
    17-fold from 10,000 (13-fold without).  Nested uses and a collector already off are left
    as they are."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse_text(text: str, file: str = "<string>") -> ast.Module:
    """Parse one spec file's text into an :class:`ast.Module`."""
    with paused_gc():
        return _parse_text(text, file)


def _parse_text(text: str, file: str) -> ast.Module:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise ArchcError.at(Span(file, 0, 0), f"file is larger than {MAX_SOURCE_BYTES // 1024 // 1024} MiB")
    if "\x00" in text:
        raise ArchcError.at(Span(file, 1, 1), "file contains a NUL byte; is it a spec?")
    source = text if text.endswith("\n") else text + "\n"
    try:
        tree = _lark().parse(source, start="start")
    except UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    except _TooManyTokens as e:
        raise ArchcError(
            [
                Diagnostic(
                    Span(file, e.token.line or 1, e.token.column or 1),
                    f"spec too big: more than {MAX_TOKENS:,} tokens",
                    "write repeated layers as a repeat (`layer x N`) or a block instead of line by line",
                )
            ],
            {file: text},
        ) from None
    except DedentError:
        line = _bad_dedent_line(source)
        raise ArchcError(
            [
                Diagnostic(
                    Span(file, line, 1),
                    "syntax error: this line's indentation matches no enclosing block",
                    "indent it like the lines of the block it belongs to",
                )
            ],
            {file: text},
        ) from None
    _check_nesting(tree, file, text)
    return _transform(tree, file, text)  # type: ignore[no-any-return]


def _transform(tree: Tree[Token], file: str, text: str) -> Any:
    try:
        return _ToAst(file).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, ArchcError):
            raise ArchcError(e.orig_exc.diagnostics, {file: text}) from None
        raise


def _check_nesting(tree: Tree[Token], file: str, text: str) -> None:
    """Refuse a spec nested deeper than :data:`MAX_NESTING` levels (walked without recursion;
    rules in :data:`_TRANSPARENT` are no level of their own)."""
    stack: list[tuple[Tree[Token], int, str]] = [(tree, 0, "")]
    while stack:
        node, depth, parent = stack.pop()
        rule = str(node.data)
        if rule not in _TRANSPARENT or (rule == "flow" and parent == "flow"):
            depth += 1
        if depth > MAX_NESTING:
            meta = node.meta
            line, col = (meta.line, meta.column) if not getattr(meta, "empty", True) else (1, 1)
            raise ArchcError(
                [
                    Diagnostic(
                        Span(file, line, col),
                        f"spec too big: nested more than {MAX_NESTING} levels deep",
                        "split the expression or the sequence into named parts (let, or a block)",
                    )
                ],
                {file: text},
            )
        stack.extend((child, depth, rule) for child in node.children if isinstance(child, Tree))


def parse_expr(text: str, file: str = "<command line>") -> ast.Expr:
    """Parse one expression, as given to ``--set name=value``."""
    try:
        tree = _lark().parse(text, start="expr")
    except UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    _check_nesting(tree, file, text)
    expr: ast.Expr = _transform(tree, file, text)
    return expr


def _bad_dedent_line(source: str) -> int:
    levels = [0]
    depth = 0
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        depth += line.count("(") + line.count("[") - line.count(")") - line.count("]")
        if not stripped or stripped.startswith("#") or stripped.startswith("->") or depth > 0:
            continue
        indent = len(line) - len(line.lstrip())
        if indent > levels[-1]:
            levels.append(indent)
        else:
            while indent < levels[-1]:
                levels.pop()
            if indent != levels[-1]:
                return number
    return 1


_NAME_RE = re.compile(r"[^\W\d]\w*")


def _segments(token: Token, span: Span) -> tuple[ast.Segment, ...]:
    """``layer2..layer4.*.bn3`` as segments: split at single dots; ``..`` makes a range."""
    out: list[ast.Segment] = []
    for part in _SINGLE_DOT.split(str(token)):
        lo, dots, hi = part.partition("..")
        if dots and "*" in (lo, hi):
            raise ArchcError.at(span, f"'{part}': a range goes from one name or index to another, not '*'")
        out.append(ast.Segment(lo, hi if dots else None))
    return tuple(out)


_SINGLE_DOT = re.compile(r"(?<!\.)\.(?!\.)")


def _as_flow(v: Any) -> ast.Flow:
    return v if isinstance(v, ast.Flow) else ast.Flow(v, (), v.span)


class _ToAst(Transformer_NonRecursive[Token, Any]):
    """Lark tree to :mod:`archc.dsl.ast` dataclasses."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 0, 0)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)

    # ------------------------------------------------------------ top level
    @v_args(meta=True)
    def derived_block(self, meta: Any, c: list[Any]) -> ast.BlockDef:
        name, params, base, args, *edits = c
        for e in edits:
            if isinstance(e, ast.InputStmt):
                raise ArchcError.at(e.span, "a block has no input of its own", "'input' belongs in a network")
        return ast.BlockDef(
            str(name),
            tuple(params or ()),
            (),
            self._span(meta),
            self.file,
            base=str(base),
            base_args=tuple(args or ()),
            edits=tuple(edits),
        )

    @v_args(meta=True)
    def start(self, meta: Any, items: list[Any]) -> ast.Module:
        module = ast.Module(self.file)
        for item in items:
            if isinstance(item, ast.Use):
                module.uses.append(item)
            elif isinstance(item, ast.BlockDef):
                module.blocks.append(item)
            elif isinstance(item, ast.NetworkDef):
                module.networks.append(item)
        return module

    @v_args(meta=True)
    def use(self, meta: Any, c: list[Any]) -> ast.Use:
        return ast.Use(str(c[0])[1:-1], self._span(meta))

    @v_args(meta=True)
    def block(self, meta: Any, c: list[Any]) -> ast.BlockDef:
        name, params, *body = c
        return ast.BlockDef(str(name), tuple(params or ()), tuple(body), self._span(meta), self.file)

    @v_args(meta=True)
    def network(self, meta: Any, c: list[Any]) -> ast.NetworkDef:
        name, params, *body = c
        return ast.NetworkDef(str(name), tuple(params or ()), tuple(body), self._span(meta), self.file)

    @v_args(meta=True)
    def derived(self, meta: Any, c: list[Any]) -> ast.NetworkDef:
        name, params, base, args, *edits = c
        inputs = [e for e in edits if isinstance(e, ast.InputStmt)]
        if len(inputs) > 1:
            raise ArchcError.at(inputs[1].span, "a second 'input' for this network", "give it one input")
        return ast.NetworkDef(
            str(name),
            tuple(params or ()),
            (),
            self._span(meta),
            self.file,
            base=str(base),
            base_args=tuple(args or ()),
            edits=tuple(e for e in edits if not isinstance(e, ast.InputStmt)),
            input=inputs[0] if inputs else None,
        )

    def params(self, c: list[ast.Param]) -> list[ast.Param]:
        seen: set[str] = set()
        for p in c:
            if p.name in seen:
                raise ArchcError.at(p.span, f"parameter '{p.name}' is given twice", "rename one of them")
            seen.add(p.name)
        return c

    @v_args(meta=True)
    def param(self, meta: Any, c: list[Any]) -> ast.Param:
        return ast.Param(str(c[0]), c[1], self._span(meta))

    def args(self, c: list[Any]) -> list[ast.Arg]:
        return [a if isinstance(a, ast.Arg) else ast.Arg(None, a, a.span) for a in c]

    @v_args(meta=True)
    def kwarg(self, meta: Any, c: list[Any]) -> ast.Arg:
        return ast.Arg(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def insert(self, meta: Any, c: list[Any]) -> ast.Insert:
        label, element, position, target = c
        el = replace(element, label=str(label), label_span=self._tspan(label))
        return ast.Insert(str(label), el, str(position), target, self._span(meta))

    @v_args(meta=True)
    def replace(self, meta: Any, c: list[Any]) -> ast.Replace:
        target, element, scope = c
        if scope is not None:
            if target.scope is not None:
                raise ArchcError.at(
                    self._tspan(scope), "this edit already names a scope with 'in'", "name the scope once"
                )
            target = replace(target, scope=_segments(scope, self._tspan(scope)))
        return ast.Replace(target, element, self._span(meta))

    @v_args(meta=True)
    def remove(self, meta: Any, c: list[Any]) -> ast.Remove:
        return ast.Remove(c[0], self._span(meta))

    @v_args(meta=True)
    def new_layer(self, meta: Any, c: list[Any]) -> ast.Element:
        layer, repeat, cond = c
        return ast.Element(None, None, layer, repeat, cond, self._span(meta))

    @v_args(meta=True)
    def target(self, meta: Any, c: list[Token]) -> ast.Target:
        path, scope = c
        return ast.Target(
            _segments(path, self._tspan(path)),
            _segments(scope, self._tspan(scope)) if scope is not None else None,
            self._span(meta),
        )

    # ------------------------------------------------------------ statements
    @v_args(meta=True)
    def input_stmt(self, meta: Any, c: list[Token]) -> ast.InputStmt:
        parts = str(c[0]).split("x")
        if any(len(p) > MAX_INT_DIGITS for p in parts):
            raise ArchcError.at(
                self._tspan(c[0]),
                f"spec too big: a size in this shape has more than {MAX_INT_DIGITS} digits",
                "use smaller sizes",
            )
        return ast.InputStmt(tuple(int(p) for p in parts), self._span(meta))

    @v_args(meta=True)
    def let_stmt(self, meta: Any, c: list[Any]) -> ast.Let:
        return ast.Let(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def require_stmt(self, meta: Any, c: list[Any]) -> ast.Require:
        cond, message = c
        return ast.Require(cond, str(message)[1:-1] if message is not None else None, self._span(meta))

    @v_args(meta=True)
    def init_stmt(self, meta: Any, c: list[Any]) -> ast.InitStmt:
        call, *rest = c
        cond = rest.pop() if rest else None
        targets = tuple(t for t in rest if t is not None)
        return ast.InitStmt(call, targets, cond, self._span(meta))

    @v_args(meta=True)
    def choice(self, meta: Any, c: list[Any]) -> ast.Choice:
        then, cond, other = c
        return ast.Choice(_as_flow(then), cond, _as_flow(other), self._span(meta))

    @v_args(meta=True)
    def assign(self, meta: Any, c: list[Any]) -> ast.Assign:
        return ast.Assign(str(c[0]), c[1], self._span(meta))

    @v_args(meta=True)
    def ret(self, meta: Any, c: list[Any]) -> ast.Return:
        return ast.Return(c[0], self._span(meta))

    @v_args(meta=True)
    def flow_stmt(self, meta: Any, c: list[Any]) -> ast.FlowStmt:
        return ast.FlowStmt(c[0], self._span(meta))

    # ------------------------------------------------------------ dataflow
    @v_args(meta=True)
    def flow(self, meta: Any, c: list[Any]) -> ast.Flow:
        source, *chain = c
        if isinstance(source, ast.Flow) and not chain:
            return source
        return ast.Flow(source, tuple(chain), self._span(meta))

    @v_args(meta=True)
    def var(self, meta: Any, c: list[Token]) -> ast.Var:
        return ast.Var(str(c[0]), self._span(meta))

    def _merge(self, op: str, meta: Any, c: list[Any]) -> ast.Merge:
        left, right = c
        operands = (*left.operands, right) if isinstance(left, ast.Merge) and left.op == op else (left, right)
        return ast.Merge(op, operands, self._span(meta))

    @v_args(meta=True)
    def add(self, meta: Any, c: list[Any]) -> ast.Merge:
        return self._merge("add", meta, c)

    @v_args(meta=True)
    def mul(self, meta: Any, c: list[Any]) -> ast.Merge:
        return self._merge("mul", meta, c)

    @v_args(meta=True)
    def cat(self, meta: Any, c: list[Any]) -> ast.Merge:
        return ast.Merge("cat", tuple(c), self._span(meta))

    @v_args(meta=True)
    def element(self, meta: Any, c: list[Any]) -> ast.Element:
        label, layer, repeat, cond = c
        return ast.Element(
            str(label) if label is not None else None,
            self._tspan(label) if label is not None else None,
            layer,
            repeat,
            cond,
            self._span(meta),
        )

    def spliced(self, c: list[Any]) -> ast.Element:
        el: ast.Element = c[0]
        if not isinstance(el.layer, ast.Seq):
            raise ArchcError.at(el.span, "only a bracketed list can be spliced with '*'", "write *[a, b]")
        return ast.Element(el.label, el.label_span, el.layer, el.repeat, el.cond, el.span, splice=True)

    @v_args(meta=True)
    def call(self, meta: Any, c: list[Any]) -> ast.Call:
        return ast.Call(str(c[0]), tuple(c[1] or ()), self._span(meta))

    @v_args(meta=True)
    def seq(self, meta: Any, c: list[Any]) -> ast.Seq:
        return ast.Seq(tuple(c), self._span(meta))

    @v_args(meta=True)
    def repeat(self, meta: Any, c: list[Any]) -> ast.Repeat:
        count, pattern = c
        span = self._span(meta)
        if isinstance(count, Token):
            count = ast.Num(int(str(count)[1:]), self._tspan(count))
        return ast.Repeat(count, str(pattern)[1:-1] if pattern is not None else None, span)

    # ------------------------------------------------------------ expressions
    def _bin(self, op: str, meta: Any, c: list[Any]) -> ast.BinOp:
        return ast.BinOp(op, c[0], c[-1], self._span(meta))

    @v_args(meta=True)
    def ternary(self, meta: Any, c: list[Any]) -> ast.Ternary:
        then, cond, other = c
        return ast.Ternary(cond, then, other, self._span(meta))

    @v_args(meta=True)
    def or_(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("or", meta, c)

    @v_args(meta=True)
    def and_(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("and", meta, c)

    @v_args(meta=True)
    def not_(self, meta: Any, c: list[Any]) -> ast.Not:
        return ast.Not(c[0], self._span(meta))

    @v_args(meta=True)
    def compare(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return ast.BinOp(str(c[1]), c[0], c[2], self._span(meta))

    @v_args(meta=True)
    def plus(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("+", meta, c)

    @v_args(meta=True)
    def minus(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("-", meta, c)

    @v_args(meta=True)
    def times(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("*", meta, c)

    @v_args(meta=True)
    def div(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("/", meta, c)

    @v_args(meta=True)
    def floordiv(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("//", meta, c)

    @v_args(meta=True)
    def mod(self, meta: Any, c: list[Any]) -> ast.BinOp:
        return self._bin("%", meta, c)

    @v_args(meta=True)
    def neg(self, meta: Any, c: list[Any]) -> ast.Neg:
        return ast.Neg(c[0], self._span(meta))

    @v_args(meta=True)
    def index(self, meta: Any, c: list[Any]) -> ast.Index:
        return ast.Index(c[0], c[1], self._span(meta))

    @v_args(meta=True)
    def attr(self, meta: Any, c: list[Any]) -> ast.Attr:
        return ast.Attr(c[0], str(c[1]), self._span(meta))

    @v_args(meta=True)
    def int_(self, meta: Any, c: list[Token]) -> ast.Num:
        if len(c[0]) > MAX_INT_DIGITS:
            raise ArchcError.at(
                self._span(meta),
                f"number too large: {len(c[0])} digits (the limit is {MAX_INT_DIGITS})",
                "sizes and counts are far smaller",
            )
        return ast.Num(int(c[0]), self._span(meta))

    @v_args(meta=True)
    def float_(self, meta: Any, c: list[Token]) -> ast.Num:
        value = float(c[0])
        if not math.isfinite(value) or len(c[0]) > 64:
            raise ArchcError.at(
                self._span(meta), f"number too large: {str(c[0])[:20]}", "use a finite number"
            )
        return ast.Num(value, self._span(meta))

    @v_args(meta=True)
    def string(self, meta: Any, c: list[Token]) -> ast.Str:
        return ast.Str(str(c[0])[1:-1], self._span(meta))

    @v_args(meta=True)
    def true(self, meta: Any, c: list[Token]) -> ast.Bool:
        return ast.Bool(True, self._span(meta))

    @v_args(meta=True)
    def false(self, meta: Any, c: list[Token]) -> ast.Bool:
        return ast.Bool(False, self._span(meta))

    @v_args(meta=True)
    def name(self, meta: Any, c: list[Token]) -> ast.Name:
        return ast.Name(str(c[0]), self._span(meta))

    @v_args(meta=True)
    def in_shape(self, meta: Any, c: list[Token]) -> ast.InShape:
        return ast.InShape(self._span(meta))

    @v_args(meta=True)
    def fcall(self, meta: Any, c: list[Any]) -> ast.FCall:
        return ast.FCall(str(c[0]), tuple(c[1] or ()), self._span(meta))

    @v_args(meta=True)
    def list_(self, meta: Any, c: list[Any]) -> ast.ListLit:
        return ast.ListLit(tuple(x for x in c if x is not None), self._span(meta))
