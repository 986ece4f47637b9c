// The archc spec language for CodeMirror: a small stream tokenizer (grammar/archc.lark is the
// real grammar; this only colours). The primitive op names come from the server, so the list
// is never out of date with archc's registry.
import { StreamLanguage } from "@codemirror/language";

const KEYWORDS = new Set([
  "use", "block", "network", "input", "return", "with", "insert", "replace", "remove",
  "after", "before", "if", "else", "and", "or", "not", "named", "in",
]);
const ATOMS = new Set(["true", "false"]);
const FUNCTIONS = new Set(["min", "max", "len", "int", "log2", "cat"]);

export function archcLanguage(ops) {
  const opNames = new Set(ops);
  return StreamLanguage.define({
    name: "archc",
    startState: () => ({ afterDef: false }),
    token(stream, state) {
      if (stream.eatSpace()) return null;
      if (stream.match("#")) {
        stream.skipToEnd();
        return "comment";
      }
      if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return "string";
      if (stream.match("->")) return "operator";
      // a shape (3x224x224) or a number (1e-6, 0.5, 64)
      if (stream.match(/^\d+(?:x\d+)+\b/)) return "number";
      if (stream.match(/^(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?/i)) return "number";
      // the repeat marker: `x 4`, `x4`, `x depths[0]`
      if (stream.match(/^x(?=\s*[\d(A-Za-z_])/) && !/[\w]/.test(stream.string.charAt(stream.start - 1) || "")) {
        return "keyword";
      }
      const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/);
      if (word) {
        const w = word[0];
        if (state.afterDef) {
          state.afterDef = false;
          return "def";
        }
        if (w === "block" || w === "network") {
          state.afterDef = true;
          return "keyword";
        }
        if (KEYWORDS.has(w)) return "keyword";
        if (ATOMS.has(w)) return "atom";
        if (/^\s*:(?!=)/.test(stream.string.slice(stream.pos)) && !/^\s*:\s*$/.test(stream.string.slice(stream.pos))) {
          return "labelName"; // `conv1: conv(...)`: a layer's name
        }
        if (opNames.has(w)) return "builtin";
        if (FUNCTIONS.has(w)) return "variableName.function";
        return "variableName";
      }
      if (stream.match(/^[-+*/%<>=!]+/)) return "operator";
      stream.next();
      return "punctuation";
    },
    languageData: { commentTokens: { line: "#" } },
  });
}
