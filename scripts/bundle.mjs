#!/usr/bin/env node
// Bundles the compiled CLI (dist/controller/cli/main.js, run `tsc` first) and
// everything it imports into one file, dist/bundle/l4lb.mjs, which bin/l4lb
// loads. Why: loading ~100 of our modules plus the CommonJS trees of winston,
// prom-client, commander, js-yaml and dns-packet file by file costs ~0.5 s of
// open/stat syscalls under user-mode Linux; one file costs a fraction.
//
//   node scripts/bundle.mjs            (make build runs it after tsc)
//
// Stays external, resolved from node_modules at run time:
//   koffi                    a native addon (.node); esbuild cannot inline it
//   @kubernetes/client-node  large, and imported lazily (only by the
//                            Kubernetes source), so never loaded otherwise
// The source map chains through tsc's maps to the .ts sources.
// Also dist/bundle/prepare-node.mjs: deploy/container/prepare-node.mjs with
// the compiled sysctl module it imports, so the image needs no dist/controller.
// Any esbuild warning fails the build: each one is a module the bundle may
// not load as the unbundled tree does.

import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const result = await build({
  absWorkingDir: root,
  entryPoints: [
    { in: 'dist/controller/cli/main.js', out: 'l4lb' },
    { in: 'deploy/container/prepare-node.mjs', out: 'prepare-node' },
  ],
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['koffi', '@kubernetes/client-node'],
  // controller/cli/version.ts: the bundle has no package.json to read the version from.
  define: { L4LB_VERSION: JSON.stringify(pkg.version) },
  // The CommonJS dependencies call require() for node's built-ins; an ES module has none.
  banner: { js: "import { createRequire as __l4lbCreateRequire } from 'node:module'; const require = __l4lbCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning', // errors and warnings, as esbuild formats them
});
if (result.warnings.length > 0) {
  process.stderr.write(`bundle: ${result.warnings.length} warning(s) above; fix them or bin/l4lb may not run as the compiled modules do\n`);
  process.exit(1);
}
