// Bundles the client (src/, which is what developers edit) into the files the package ships,
// so that installing it needs no install of its dependencies (a plain `npm install
// path/to/clients/js` makes a symlink and installs none):
//
//     npm ci && npm run build [-- --outdir DIR]     # default DIR: dist
//
//   dist/roost.js           Node (the "node" export condition): the client, cbor-x and ws
//   dist/roost.browser.js   everything else (browsers, bundlers): the client and cbor-x, no ws
//   dist/LICENSES.txt       the bundled packages' license notices
//
// cbor-x is its plain JavaScript build in both (no optional native cbor-extract). ws's optional
// native add-ons (bufferutil, utf-8-validate) stay outside: ws loads them if they are
// installed beside the client, and does without them otherwise. The output is committed;
// esbuild's output is deterministic, and tests/e2e/test_js_client.py rebuilds into a
// temporary directory and compares byte for byte, so dist/ cannot drift from src/ and
// package-lock.json.

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf("--outdir");
const outdir = at === -1 ? join(here, "dist") : args[at + 1];
mkdirSync(outdir, { recursive: true });

/** cbor-x's plain ES module build; its Node entry would reach for the native cbor-extract. */
const plainCbor = {
  name: "plain-cbor-x",
  setup(build) {
    build.onResolve({ filter: /^cbor-x$/ }, () => ({ path: join(here, "node_modules", "cbor-x", "index.js") }));
  },
};

/** In the browser build, `ws` (loaded only without a global WebSocket) is a clear error. */
const noWs = {
  name: "no-ws",
  setup(build) {
    build.onResolve({ filter: /^ws$/ }, () => ({ path: "ws", namespace: "no-ws" }));
    build.onLoad({ filter: /.*/, namespace: "no-ws" }, () => ({
      contents:
        'throw new TypeError("roost-client: this environment has no global WebSocket; pass connect(url, { WebSocket })");',
      loader: "js",
    }));
  },
};

const banner = (what) =>
  `/* roost-client ${JSON.parse(readFileSync(join(here, "package.json"), "utf8")).version}: ${what}, ` +
  "bundled by clients/js/build.mjs from src/ (edit those, then `npm run build`); licenses: LICENSES.txt */";

const common = {
  absWorkingDir: here,
  entryPoints: ["src/roost.js"],
  bundle: true,
  format: "esm",
  legalComments: "none", // the notices go to LICENSES.txt, whole
  metafile: true,
  write: false,
  logLevel: "warning",
};

const builds = [
  await build({
    ...common,
    platform: "node",
    target: "node20",
    outfile: "roost.js",
    plugins: [plainCbor],
    external: ["bufferutil", "utf-8-validate"],
    // ws is CommonJS and require()s Node's modules: give the ES module a require.
    banner: {
      js:
        `${banner("the client, cbor-x and ws for Node")}\n` +
        'import { createRequire as __roostCreateRequire } from "node:module";\n' +
        "const require = __roostCreateRequire(import.meta.url);",
    },
  }),
  await build({
    ...common,
    platform: "browser",
    target: "es2020",
    outfile: "roost.browser.js",
    plugins: [plainCbor, noWs],
    banner: { js: banner("the client and cbor-x for browsers and bundlers") },
  }),
];
for (const result of builds) {
  for (const file of result.outputFiles) writeFileSync(join(outdir, file.path.split("/").pop()), file.contents);
}

// Every package with a file in a bundle, with its license text.
const packages = new Set();
for (const result of builds) {
  for (const input of Object.keys(result.metafile.inputs)) {
    const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (match) packages.add(match[1]);
  }
}
const notices = [...packages].sort().map((name) => {
  const root = join(here, "node_modules", name);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const license = readFileSync(join(root, "LICENSE"), "utf8").trim();
  return `${meta.name} ${meta.version} (${meta.license})\n\n${license}\n`;
});
writeFileSync(
  join(outdir, "LICENSES.txt"),
  "Third-party software bundled in roost.js and roost.browser.js\n" +
    "=============================================================\n\n" +
    notices.join("\n------------------------------------------\n\n"),
);
