"""The grammar-aware mutation engine: a case id in, a case out.

A case id is ``"<seed>-<index>"``; :func:`make_case` derives everything from it (a
``random.Random`` seeded with the id's text, which Python hashes with SHA-512, so the same id
gives the same case in every process and on every machine, for the same corpus: see
:func:`fuzz.corpus.corpus_digest`).  The kinds of case, and what each does to a spec:

``bytes``      random bytes, or a shipped spec with bytes flipped, cut or inserted
``token``      one to four token edits of a shipped spec (delete, duplicate, swap, replace with a
               token of the language, of the spec or a hostile one, insert)
``line``       line edits (delete, duplicate, swap, move, re-indent, splice a line of another spec)
``number``     numbers replaced by edge values (0, -1, huge, 5,000 digits, ``1e999``, ...)
``nesting``    a generated spec nested or chained 10 to 20,000 deep (parentheses, lists,
               sequences, ``a + a + ...``, ``not not ...``, conditionals, block calls, repeats,
               ``use`` chains)
``unicode``    characters inserted or names replaced: bidi controls, zero-width, NUL, line and
               paragraph separators, letters that NFKC-normalise onto others, emoji
``layout``     CRLF, CR, tabs, mixed indentation, a BOM, a form feed, no final newline, UTF-16
``names``      defined names replaced by Python keywords, builtins, names the emitted code uses,
               dunders, 64/65/1,000 characters
``filename``   the spec written under a hostile file or folder name (newlines, quotes, ``\"\"\"``,
               backslashes, CR, non-UTF-8 bytes), carrying a canary
``string``     hostile text in the strings a spec holds (``require`` messages, ``named``
               patterns, ``use`` paths), carrying a canary
``use``        ``use`` of special files (devices, a FIFO, a folder, files outside the project)
``sets``       ``--set`` overrides of the network's header parameters (edge values, lists,
               ops, hostile text carrying a canary), with ``--input`` now and then

A *canary* is the name of a marker file that the hostile text would create (``open(NAME, "w")``)
if it ever ran as code; the runner imports emitted modules in a subprocess and looks for it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fuzz.corpus import Spec, corpus

# CPU seconds to compile and build each corpus entry that compiles (measured once, committed, so
# that the weights, and so every case, stay the same from run to run).
COSTS: dict[str, float] = json.loads((Path(__file__).parent / "costs.json").read_text())

KINDS: dict[str, int] = {  # kind -> weight (per 100)
    "bytes": 5,
    "token": 26,
    "line": 14,
    "number": 9,
    "nesting": 7,
    "unicode": 5,
    "layout": 6,
    "names": 6,
    "filename": 5,
    "string": 4,
    "use": 2,
    "sets": 11,
}

TOKEN = re.compile(
    r'"[^"\n]*"|#[^\n]*|[^\W\d]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|->|//|==|!=|<=|>=|\.\.|\r?\n|[ \t]+|.',
    re.DOTALL,
)
KEYWORDS = [
    "use",
    "block",
    "network",
    "input",
    "return",
    "let",
    "require",
    "init",
    "if",
    "else",
    "not",
    "and",
    "or",
    "in",
    "x",
    "named",
    "with",
    "insert",
    "replace",
    "remove",
    "after",
    "before",
    "for",
    "true",
    "false",
    "cat",
]
PUNCTUATION = [
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "->",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    ".",
    "..",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "*",
]
OPS = [
    "conv",
    "bn",
    "relu",
    "linear",
    "gap",
    "flatten",
    "maxpool",
    "avgpool",
    "identity",
    "dropout",
    "gelu",
    "silu",
    "relu6",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "softmax",
    "layernorm",
    "groupnorm",
    "instancenorm",
    "conv1d",
    "upsample",
    "se",
    "mha",
    "channel_shuffle",
    "split",
    "transpose",
    "drop_path",
    "layer_scale",
    "tokens",
    "cls_token",
    "pos_embed",
]
HUGE = [
    "0",
    "-1",
    "1",
    "2",
    "3",
    "7",
    "64",
    "1000",
    "65536",
    "99999",
    "100000",
    "100001",
    "199999",
    "200001",
    "2147483647",
    "2147483648",
    str(2**62),
    str(2**62 + 1),
    str(2**63),
    "999999999999999999",
    "9999999999999999999",
    "1" + "0" * 400,
    "9" * 5000,
    "1e999",
    "-1e999",
    "1e-320",
    "0.0",
    "0.5",
    "1.",
    "1e18",
    "1e19",
    "00000000000000000000001",
]
PY_NAMES = [
    "class",
    "def",
    "lambda",
    "None",
    "True",
    "False",
    "import",
    "from",
    "pass",
    "yield",
    "await",
    "async",
    "global",
    "nonlocal",
    "del",
    "raise",
    "try",
    "except",
    "while",
    "print",
    "len",
    "super",
    "self",
    "object",
    "type",
    "int",
    "list",
    "tuple",
    "range",
    "torch",
    "nn",
    "F",
    "math",
    "OrderedDict",
    "Sequence",
    "Callable",
    "partial",
    "annotations",
    "forward",
    "training",
    "state_dict",
    "parameters",
    "register_buffer",
    "add_module",
    "to",
    "cuda",
    "eval",
    "exec",
    "compile",
    "open",
    "__init__",
    "__class__",
    "__dict__",
    "__name__",
    "_modules",
    "_parameters",
    "__import__",
    "__builtins__",
    "Tensor",
    "Module",
    "Sequential",
    "ModuleList",
    "Conv2d",
    "cls",
    "kwargs",
    "args",
    "out",
    "identity",
    "x",
    "y",
    "z",
    "in_",
    "match",
    "case",
    "_",
    "__",
    "a" * 64,
    "a" * 65,
    "b" * 1000,
    "ﬁlter",
    "ℌ",
    "Ⅸ",
    "𝔵",
    "é",
    "e\u0301",
    "ǅ",
    "ß",
    "Straße",
    "ϰ",
    "名前",
]
ODD_CHARS = [
    "\u202e",
    "\u202d",
    "\u2066",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\r",
    "\t",
    "\\",
    '"',
    "'",
    "é",
    "ﬁ",
    "𝔵",
    "😀",
    "\U000e0041",
    "\ud800",
]


@dataclass(frozen=True)
class Case:
    """One fuzz case: write ``data`` as ``name`` into the mirror of the corpus (beside
    ``source``), write ``extras`` beside it (``None``: a FIFO), then run
    ``archc check NAME --set ... [--input ...] [--network ...]``."""

    id: str
    kind: str
    source: str  # the corpus entry it came from ("" for generated text)
    folder: str  # where the spec is written, relative to the project root
    name: str  # the file name, possibly with a sub-folder; may hold surrogate-escaped bytes
    data: bytes
    sets: tuple[str, ...] = ()
    input: str | None = None
    network: str | None = None
    extras: tuple[tuple[str, bytes | None], ...] = ()
    canary: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def case_id(seed: int, index: int) -> str:
    return f"{seed}-{index}"


def parse_id(cid: str) -> tuple[int, int]:
    seed, _, index = cid.partition("-")
    return int(seed), int(index)


def canary_name(cid: str) -> str:
    return "CANARY_" + cid.replace("-", "_")


def payloads(marker: str) -> list[str]:
    """Text that runs ``open(marker, "w")`` if pasted raw into Python source: in a comment, a
    string, a docstring or an f-string."""
    op = f'open("{marker}", "w")'
    sq = f"open('{marker}', 'w')"
    return [
        f"\n{op}\n",
        f'"""\n{op}\n"""',
        f"'''\n{sq}\n'''",
        f"\r{op}\r",
        f"\r\n{op}#",
        f'"); {op}; ("',
        f"'); {sq}; ('",
        f'"""); {op}; ("""',
        f"\\\n{op}\n",
        f"\x0c\n{op}\n",
        f"\u2028\n{op}\n",
        f"{{{op}}}",
        f"{{{{ {op} }}}}",
        f"\n{op}  # \udcff\udcfe",
    ]


def string_payloads(marker: str) -> list[str]:
    """Payloads that a spec's string literal can hold (no ``"``, newline or backslash)."""
    sq = f"open('{marker}', 'w')"
    return [
        f"'''\r{sq}\r'''",
        f"\r{sq}\r",
        f"x\r{sq}#",
        f"{{{sq}}}",
        f"{{{{ {sq} }}}}",
        f"'); {sq}; ('",
        f"'''); {sq}; ('''",
        f"\x0c\r{sq}\r",
        f"\u2028{sq}",
        f"\u202e{sq}",
        f"%s{sq}%(x)s{{}}",
    ]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _solid(toks: list[str]) -> list[int]:
    """Indices of tokens that are not whitespace or newlines."""
    return [i for i, t in enumerate(toks) if t.strip()]


def _specs_with(pred: str | None = None) -> list[Spec]:
    specs = list(corpus())
    return [s for s in specs if pred is None or pred in s.text] or specs


def _self_contained() -> list[Spec]:
    """Specs that compile on their own text (no ``use``): for canary cases."""
    return [s for s in corpus() if "use " not in s.text and s.path in COSTS]


class Mutator:
    """Builds the case for one id; every random choice comes from ``self.rng``."""

    def __init__(self, seed: int, index: int) -> None:
        self.id = case_id(seed, index)
        self.rng = random.Random(f"archc-fuzz:{self.id}")
        self.marker = canary_name(self.id)

    # -- helpers ---------------------------------------------------------------------------
    def pick_spec(self, specs: list[Spec] | None = None) -> Spec:
        """A corpus entry, cheap ones more often (weight 1 / (0.05 s + its build cost); specs that
        do not compile count as 0.1 s)."""
        pool = specs if specs is not None else list(corpus())
        return self.rng.choices(pool, weights=[1 / (0.05 + COSTS.get(s.path, 0.1)) for s in pool])[0]

    def any_token(self, own: list[str]) -> str:
        r = self.rng.random()
        solid = [t for t in own if t.strip()]
        if r < 0.3 and solid:
            return self.rng.choice(solid)
        if r < 0.5:
            return self.rng.choice(KEYWORDS)
        if r < 0.7:
            return self.rng.choice(PUNCTUATION)
        if r < 0.8:
            return self.rng.choice(OPS)
        if r < 0.9:
            return self.rng.choice(HUGE)
        return self.rng.choice(PY_NAMES)

    def case(self, kind: str, spec: Spec | None, text: str | bytes, **kw: object) -> Case:
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        folder = str(kw.pop("folder", spec.folder if spec else "specs"))
        name = str(kw.pop("name", f"fuzz_{self.id}.arch"))
        return Case(self.id, kind, spec.path if spec else "", folder, name, data, **kw)  # type: ignore[arg-type]

    # -- kinds -----------------------------------------------------------------------------
    def make(self) -> Case:
        kinds = list(KINDS)
        kind = self.rng.choices(kinds, weights=[KINDS[k] for k in kinds])[0]
        return getattr(self, f"k_{kind}")()  # type: ignore[no-any-return]

    def k_bytes(self) -> Case:
        rng = self.rng
        if rng.random() < 0.3:
            n = rng.choice([0, 1, 2, 16, 100, 512, 2048])
            return self.case("bytes", None, bytes(rng.randrange(256) for _ in range(n)))
        spec = self.pick_spec()
        data = bytearray(spec.text.encode("utf-8"))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data) + 1)
            if op < 0.4 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op < 0.6:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif op < 0.8:
                del data[pos : pos + rng.randint(1, 40)]
            else:
                data = data[:pos]
        return self.case("bytes", spec, bytes(data))

    def k_token(self) -> Case:
        rng = self.rng
        spec = self.pick_spec()
        toks = tokens(spec.text)
        notes = []
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
            solid = _solid(toks)
            if not solid:
                break
            i = rng.choice(solid)
            op = rng.choice(["delete", "duplicate", "swap", "replace", "replace", "insert"])
            notes.append(f"{op} {toks[i]!r}")
            if op == "delete":
                del toks[i]
            elif op == "duplicate":
                toks.insert(i, toks[i] + rng.choice(["", " "]))
            elif op == "swap":
                j = rng.choice(solid)
                toks[i], toks[j] = toks[j], toks[i]
            elif op == "replace":
                toks[i] = self.any_token(toks)
            else:
                toks.insert(i, self.any_token(toks) + " ")
        return self.case("token", spec, "".join(toks), notes=tuple(notes))

    def k_line(self) -> Case:
        rng = self.rng
        spec = self.pick_spec()
        lines = spec.text.split("\n")
        for _ in range(rng.choice([1, 1, 2, 3])):
            if not lines:
                break
            i = rng.randrange(len(lines))
            op = rng.random()
            if op < 0.25:
                del lines[i]
            elif op < 0.4:
                lines.insert(i, lines[i])
            elif op < 0.55:
                j = rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
            elif op < 0.7:
                lines.insert(rng.randrange(len(lines) + 1), lines.pop(i))
            elif op < 0.85:
                lines[i] = rng.choice(["", " ", "  ", "    ", "\t", "        "]) + lines[i].lstrip(
                    rng.choice([" ", "", "\t "])
                )
            else:
                other = self.pick_spec().text.split("\n")
                lines.insert(i, rng.choice(other))
        return self.case("line", spec, "\n".join(lines))

    def k_number(self) -> Case:
        rng = self.rng
        spec = self.pick_spec()
        toks = tokens(spec.text)
        nums = [i for i, t in enumerate(toks) if t[:1].isdigit()]
        if not nums:
            return self.k_token()
        for _ in range(rng.choice([1, 1, 2])):
            i = rng.choice(nums)
            if rng.random() < 0.5:
                toks[i] = rng.choice(HUGE)
            else:
                try:
                    v = int(toks[i])
                except ValueError:
                    v = 1
                toks[i] = str(rng.choice([v + 1, v - 1, v * 2, v // 2, v * 1000, -v, 0]))
        return self.case("number", spec, "".join(toks))

    def k_nesting(self) -> Case:
        rng = self.rng
        n = rng.choice([10, 50, 99, 100, 101, 150, 300, 600, 1000, 3000, 20000])
        form = rng.choice(
            [
                "parens",
                "list",
                "seq",
                "plus",
                "merge",
                "not",
                "ternary",
                "blocks",
                "chain",
                "repeat",
                "nested_repeat",
                "use_chain",
                "index",
                "neg",
            ]
        )
        head = "network n():\n    input 3x8x8\n"
        extras: list[tuple[str, bytes | None]] = []
        if form == "parens":
            text = head + f"    let a = {'(' * n}1{')' * n}\n    x -> conv(a, k=1)\n"
        elif form == "list":
            text = head + f"    let a = {'[' * n}1{']' * n}\n    x -> relu\n"
        elif form == "seq":
            text = head + f"    x -> {'[' * n}relu{']' * n}\n"
        elif form == "plus":
            text = head + f"    let a = {' + '.join(['1'] * n)}\n    x -> conv(a, k=1)\n"
        elif form == "merge":
            text = head + f"    y = x -> relu\n    return {' + '.join(['y'] * n)}\n"
        elif form == "not":
            text = head + f"    x -> relu if {'not ' * n}true\n"
        elif form == "ternary":
            text = head + f"    let a = {'1 if true else ' * n}2\n    x -> conv(a, k=1)\n"
        elif form == "index":
            text = head + f"    let a = [1]{'[0]' * n}\n    x -> relu\n"
        elif form == "neg":
            text = head + f"    let a = {'-' * n}1\n    x -> relu\n"
        elif form == "blocks":
            m = min(n, 2000)
            text = "".join(f"block b{i}():\n    return x -> b{i + 1}\n" for i in range(m))
            text += f"block b{m}():\n    return x -> relu\n" + head + "    x -> b0\n"
        elif form == "chain":
            text = head + "    x -> relu\n" + "      -> relu\n" * n
        elif form == "repeat":
            text = head + f"    x -> [relu x {n}] x {rng.choice([1, 10, 100, 100000])}\n"
        elif form == "nested_repeat":
            k = rng.choice([2, 3, 5, 20])
            text = head + f"    x -> {'[' * k}identity{' x 100000]' * k}\n"
        else:  # use_chain
            m = min(n, 600)
            for i in range(m):
                extras.append((f"fuzz_{self.id}_u{i}.arch", f'use "fuzz_{self.id}_u{i + 1}.arch"\n'.encode()))
            extras.append((f"fuzz_{self.id}_u{m}.arch", b"block leaf():\n    return x -> relu\n"))
            text = f'use "fuzz_{self.id}_u0.arch"\n' + head + "    x -> leaf\n"
        return self.case("nesting", None, text, extras=tuple(extras), notes=(f"{form} {n}",))

    def k_unicode(self) -> Case:
        rng = self.rng
        spec = self.pick_spec()
        toks = tokens(spec.text)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(toks) + 1)
            if rng.random() < 0.5:
                toks.insert(i, rng.choice(ODD_CHARS))
            else:
                names = [j for j, t in enumerate(toks) if t[:1].isalpha() and t not in KEYWORDS]
                if names:
                    j = rng.choice(names)
                    toks[j] = rng.choice([n for n in PY_NAMES if not n.isascii()])
        return self.case("unicode", spec, "".join(toks))

    def k_layout(self) -> Case:
        rng = self.rng
        spec = self.pick_spec()
        text = spec.text
        op = rng.choice(
            ["crlf", "cr", "tabs", "mixed", "bom", "ff", "nofinal", "utf16", "trailing", "bom_crlf"]
        )
        if op in ("crlf", "bom_crlf"):
            text = text.replace("\n", "\r\n")
        if op == "cr":
            text = text.replace("\n", "\r")
        elif op == "tabs":
            text = re.sub(r"(?m)^(    )+", lambda m: "\t" * (len(m.group(0)) // 4), text)
        elif op == "mixed":
            lines = text.split("\n")
            lines = [("\t" + ln[4:]) if ln.startswith("    ") and rng.random() < 0.5 else ln for ln in lines]
            text = "\n".join(lines)
        elif op == "ff":
            text = text.replace("\n", "\n\x0c", rng.randint(1, 5))
        elif op == "nofinal":
            text = text.rstrip("\n")
        elif op == "trailing":
            text = text.replace("\n", " \t \n")
        if op in ("bom", "bom_crlf"):
            text = "\ufeff" + text
        data = text.encode("utf-16") if op == "utf16" else text.encode("utf-8")
        return self.case("layout", spec, data, notes=(op,))

    def k_names(self) -> Case:
        rng = self.rng
        spec = self.pick_spec()
        defined = re.findall(
            r"(?:block|network)\s+([^\W\d]\w*)|([^\W\d]\w*)\s*:(?!\s*$)|([^\W\d]\w*)\s*=[^=]", spec.text
        )
        names = sorted({n for group in defined for n in group if n and n not in KEYWORDS})
        if not names:
            return self.k_token()
        text = spec.text
        notes = []
        for _ in range(rng.choice([1, 1, 2])):
            old, new = rng.choice(names), rng.choice(PY_NAMES)
            notes.append(f"{old} -> {new}")
            text = re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, text)
        return self.case("names", spec, text, notes=tuple(notes))

    def k_filename(self) -> Case:
        rng = self.rng
        spec = self.pick_spec(_self_contained())
        payload = rng.choice(payloads(self.marker))
        if rng.random() < 0.15:
            payload += "\udcff\udcfe"  # bytes that are not UTF-8, as os.fsencode writes them
        where = rng.choice(["file", "file", "folder"])
        stem = payload.replace("/", "_")
        name = f"{stem}.arch" if where == "file" else f"{stem}/spec.arch"
        if len(name.encode("utf-8", "surrogateescape")) > 250:
            name = name[:200] + ".arch"
        return self.case("filename", spec, spec.text, name=name, canary=self.marker, notes=(where,))

    def k_string(self) -> Case:
        rng = self.rng
        spec = self.pick_spec(_self_contained())
        payload = rng.choice(string_payloads(self.marker))
        lines = spec.text.split("\n")
        where = rng.choice(["require", "require", "named", "use"])
        heads = [i for i, ln in enumerate(lines) if re.match(r"\s*(input|return|y =|x ->)", ln)]
        if where == "named" and " x " in spec.text:
            text = re.sub(
                r"( x (?:\w+|\d+|\w+\[\d+\]))(?!\s*named)", rf'\1 named "{payload}"', spec.text, count=1
            )
        elif where == "use":
            text = f'use "{payload}"\n' + spec.text
        elif heads:
            i = rng.choice(heads)
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines.insert(
                i + (1 if lines[i].lstrip().startswith("input") else 0), f'{indent}require true: "{payload}"'
            )
            text = "\n".join(lines)
        else:
            text = spec.text
        return self.case("string", spec, text, canary=self.marker, notes=(where,))

    def k_use(self) -> Case:
        rng = self.rng
        target = rng.choice(
            [
                "/dev/zero",
                "/dev/urandom",
                "/dev/null",
                "/dev/stdin",
                "/proc/self/status",
                "/etc/hostname",
                "/etc/passwd",
                "../../../../../../etc/passwd",
                "..",
                ".",
                "",
                "specs",
                "FIFO",
                "missing.arch",
                "SELF",
                "a" * 300,
            ]
        )
        extras: list[tuple[str, bytes | None]] = []
        if target == "FIFO":
            target = f"fuzz_{self.id}.fifo"
            extras.append((target, None))
        elif target == "SELF":
            target = f"fuzz_{self.id}.arch"
        text = f'use "{target}"\nnetwork n():\n    input 3x8x8\n    x -> relu\n'
        return self.case("use", None, text, extras=tuple(extras), notes=(target,))

    def k_sets(self) -> Case:
        rng = self.rng
        with_params = [
            s for s in corpus() if s.path in COSTS and re.search(r"network\s+\w+\s*\(\s*\w", s.text)
        ]
        spec = self.pick_spec(with_params)
        sets, network, shape = param_variant(rng, spec, self.marker)
        return self.case("sets", spec, spec.text, sets=tuple(sets), network=network, input=shape)


def network_params(text: str) -> list[tuple[str, str, str]]:
    """``(network, parameter, default text)`` for each header parameter of each network."""
    out = []
    for m in re.finditer(r"(?m)^network\s+([^\W\d]\w*)\s*\(((?:[^()]|\([^()]*\))*)\)\s*:", text):
        depth, cur, parts = 0, "", []
        for ch in m.group(2):
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for p in parts:
            name, _, default = p.strip().partition("=")
            if name.strip().isidentifier():
                out.append((m.group(1), name.strip(), default.strip()))
    return out


def _vary(rng: random.Random, default: str) -> str:
    """Another value for a parameter whose default is written ``default``."""
    d = default.strip()
    if re.fullmatch(r"-?\d+", d):
        v = int(d)
        return str(rng.choice([v + 1, v - 1, v * 2, max(1, v // 2), 1, 2, 3, v + 7]))
    if re.fullmatch(r"\d+\.\d*(e-?\d+)?", d):
        return rng.choice(["0.0", "0.5", "0.25", "0.9", repr(float(d) * 2)])
    if d in ("true", "false"):
        return "false" if d == "true" else "true"
    if d.startswith("[") and d.endswith("]"):
        items = [x.strip() for x in d[1:-1].split(",") if x.strip()]
        if items and all(re.fullmatch(r"-?\d+", x) for x in items):
            ints = [int(x) for x in items]
            op = rng.random()
            if op < 0.3:
                i = rng.randrange(len(ints))
                ints[i] = max(1, ints[i] + rng.choice([-1, 1, 2]))
            elif op < 0.5:
                ints = ints[:-1] or ints
            elif op < 0.7:
                ints = [*ints, ints[-1]]
            else:
                ints = [max(1, x + rng.choice([-1, 0, 1])) for x in ints]
            return "[" + ", ".join(map(str, ints)) + "]"
    return d or "1"


def param_variant(
    rng: random.Random, spec: Spec, marker: str, *, hostile: bool = True
) -> tuple[list[str], str | None, str | None]:
    """``--set`` items (and maybe a network and an input shape) varying ``spec``'s header
    parameters; ``hostile``: edge values and canary text now and then."""
    params = network_params(spec.text)
    if not params:
        return [], None, None
    net = rng.choice(sorted({n for n, _, _ in params}))
    mine = [(p, d) for n, p, d in params if n == net]
    sets = []
    for p, d in rng.sample(mine, k=min(len(mine), rng.choice([1, 1, 2, 3]))):
        if hostile and rng.random() < 0.35:
            value = rng.choice(
                [
                    *HUGE,
                    "[]",
                    "[1]",
                    "[0, 0, 0, 0]",
                    "[" + ", ".join(["1"] * 20000) + "]",
                    "true",
                    "relu",
                    "gelu",
                    "bottleneck",
                    "basic_block",
                    "conv(8, k=1)",
                    "groupnorm(32)",
                    '"text"',
                    f'"{rng.choice(string_payloads(marker))}"',
                    f"1  # {rng.choice(string_payloads(marker))}",
                    "in.c",
                    "i",
                    "undefined_name",
                    "1 +",
                    "max(1, 2)",
                    "1 if true else 2",
                    "[1] * 100",
                ]
            )
        else:
            value = _vary(rng, d)
        sets.append(f"{p}={value}")
    if hostile and rng.random() < 0.05:
        sets.append(f"no_such_parameter_{rng.randrange(9)}=1")
    shape = None
    if hostile and rng.random() < 0.1:
        shape = rng.choice(
            ["3x32x32", "3x224x224", "3x1x1", "1x8x8", "3x7x9", "16", "3x100000x100000", "0x1x1"]
        )
    network = net if rng.random() < 0.7 else None
    return sets, network, shape


def make_case(cid: str) -> Case:
    """The case named ``cid`` (``"<seed>-<index>"``)."""
    seed, index = parse_id(cid)
    return Mutator(seed, index).make()


def written_name(case: Case) -> PurePosixPath:
    """Where the case's spec lies, relative to the project root."""
    return PurePosixPath(case.folder) / case.name
