// Bundles the page into ../static (committed): app.js, app.css, index.html, and the licences of
// every package the bundle contains (THIRD_PARTY_LICENSES.txt). Run by `make frontend`.
import { build } from "esbuild";
import { copyFileSync, readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");

const result = await build({
  entryPoints: { app: join(here, "src", "main.js") }, // main.js imports style.css: app.css
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "none",
  metafile: true,
  outdir: out,
  entryNames: "[name]",
  logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));

const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.set(m[1], join(here, "node_modules", m[1]));
}
const parts = [
  "Third-party software bundled into app.js by esbuild (see frontend/package.json).\n",
];
for (const name of [...packages.keys()].sort()) {
  const dir = packages.get(name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const licence = readdirSync(dir).find((f) => /^licen[sc]e/i.test(f));
  parts.push(`\n==== ${name} ${pkg.version} (${pkg.license}) ====\n`);
  parts.push(licence && existsSync(join(dir, licence)) ? readFileSync(join(dir, licence), "utf8") : "(no licence file)\n");
}
writeFileSync(join(out, "THIRD_PARTY_LICENSES.txt"), parts.join(""));
console.log(`bundled ${packages.size} packages into ${out}`);
