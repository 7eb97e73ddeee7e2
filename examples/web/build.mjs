// Bundles vendor.entry.js (yjs, y-websocket and their dependencies) into one ES module for
// the browser demo, with the bundled packages' license notices beside it:
//
//     npm ci && node build.mjs [--outdir DIR]     # default DIR: public
//
// The output is committed, so `python3 dev.py demo` needs no Node. esbuild's output is
// deterministic; tests/e2e/test_demo.py rebuilds into a temporary directory and
// compares, so the committed files cannot drift from package-lock.json.

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf("--outdir");
const outdir = at === -1 ? join(here, "public") : args[at + 1];
mkdirSync(outdir, { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: ["vendor.entry.js"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  minify: true,
  legalComments: "none", // the notices go to vendor.LICENSES.txt, whole
  banner: {
    js: "/* yjs, y-websocket and dependencies, bundled by examples/web/build.mjs; licenses: vendor.LICENSES.txt */",
  },
  metafile: true,
  write: false,
  outfile: "vendor.js",
  logLevel: "warning",
});
writeFileSync(join(outdir, "vendor.js"), result.outputFiles[0].contents);

// Every package with a file in the bundle, with its license text.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (match) packages.add(match[1]);
}
const notices = [...packages].sort().map((name) => {
  const root = join(here, "node_modules", name);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const license = readFileSync(join(root, "LICENSE"), "utf8").trim();
  return `${meta.name} ${meta.version} (${meta.license})\n\n${license}\n`;
});
writeFileSync(
  join(outdir, "vendor.LICENSES.txt"),
  "Third-party software bundled in vendor.js\n" +
    "==========================================\n\n" +
    notices.join("\n------------------------------------------\n\n"),
);
