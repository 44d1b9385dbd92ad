// The bundle `make build` writes (scripts/bundle.mjs -> dist/bundle/l4lb.mjs)
// run as a process: it is the program bin/l4lb runs, so it must behave exactly
// as the compiled modules it was made from. And bin/l4lb's choice between the
// two, in a temp layout with stand-ins for both.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from '../harness/paths.js';
import { L4LB_RUN_FLAGS } from '../kernel/e2e-lib.js';

const ROOT = repoRoot();
const BUNDLE = join(ROOT, 'dist/bundle/l4lb.mjs');
const MODULES = join(ROOT, 'dist/controller/cli/main.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function node(script: string, args: string[], cwd = ROOT): Run {
  const r = spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bundle: `l4lb version` prints package.json\'s version (no package.json beside the bundle to read)', () => {
  const r = node(BUNDLE, ['version']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `l4lb ${VERSION} (node ${process.version}, ${process.platform}/${process.arch})\n`);
  const json = node(BUNDLE, ['version', '-o', 'json']);
  assert.equal(json.status, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as { version: string }).version, VERSION);
});

test('bundle: `l4lb run --help` and a bad flag (exit 2, one clear line)', () => {
  const help = node(BUNDLE, ['run', '--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: l4lb run \[options\]/);
  const bad = node(BUNDLE, ['run', '--no-such-flag']);
  assert.equal(bad.status, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /^error: unknown option '--no-such-flag'\n/);
});

test('bundle: the same output and exit code as the compiled modules, command by command', () => {
  const lines = [
    ['version'],
    ['--help'],
    ['run', '--help'],
    ['run', '--no-such-flag'],
    ['no-such-verb'],
    ['version', '-o', 'yaml'],
    ['get', 'vips', '--socket', '/nonexistent/l4lb.sock'], // exit 3: the daemon cannot be reached
    ['plan', '--help'],
    ['ipvs', 'list', '--help'],
  ];
  for (const args of lines) {
    const b = node(BUNDLE, args);
    const m = node(MODULES, args);
    assert.deepEqual(b, m, `l4lb ${args.join(' ')}`);
  }
});

/** The packages the bundle imports at run time (static and dynamic imports; node: built-ins left out). */
function externalPackages(): string[] {
  const text = readFileSync(BUNDLE, 'utf8');
  const specifiers = new Set([
    ...[...text.matchAll(/^import\s[^'"]*?from\s*["']([^"']+)["'];?$/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/^import\s*["']([^"']+)["'];?$/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!),
  ]);
  return [...specifiers].filter((s) => !s.startsWith('node:')).sort();
}

test('bundle: nothing in it reads files relative to itself, and only koffi and @kubernetes/client-node stay outside', () => {
  // The require() shim of the banner is the one use: a module that reads a
  // file beside its own URL (as version.ts once did) would read it beside
  // dist/bundle/ instead.
  assert.equal(readFileSync(BUNDLE, 'utf8').match(/import\.meta/g)?.length, 1, 'import.meta is used only by the banner');
  assert.deepEqual(externalPackages(), ['@kubernetes/client-node', 'koffi']);
});

test('package.json: dependencies are what the bundle imports at run time; what it holds inside is a devDependency', () => {
  // The image keeps only dependencies (npm prune --omit=dev): a missing one
  // breaks it, a bundled one only makes it bigger.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}).sort(), externalPackages(), 'move bundled packages to devDependencies (npm install -D --save-exact), external ones to dependencies');
});

test('bundle: its source map points at the TypeScript sources, and stack traces do with --enable-source-maps', (t) => {
  assert.match(readFileSync(BUNDLE, 'utf8'), /\n\/\/# sourceMappingURL=l4lb\.mjs\.map\n?$/);
  const map = JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as { sources: string[] };
  const ours = map.sources.filter((s) => !s.includes('node_modules/'));
  assert.ok(ours.includes('../../controller/cli/main.ts') && ours.includes('../../native/ffi/libc.ts'), ours.slice(0, 5).join(' '));
  for (const s of ours) {
    assert.match(s, /\.ts$/, `${s}: a compiled .js, not its .ts`);
    assert.ok(existsSync(resolve(dirname(BUNDLE), s)), `${s} exists`);
  }
  // A stack taken where `l4lb version` writes its line.
  const dir = mkdtempSync(join(tmpdir(), 'l4lb-stack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hook = join(dir, 'hook.cjs');
  writeFileSync(hook, "const w = process.stdout.write.bind(process.stdout);\nprocess.stdout.write = (s) => w(new Error('here').stack + '\\n' + s);\n");
  const r = spawnSync(process.execPath, ['--enable-source-maps', '--require', hook, BUNDLE, 'version'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`at .*\\(${join(ROOT, 'controller/cli/program.ts').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+\\)`), r.stdout);
});

test('bundle: make build leaves it newer than the compiled modules, so bin/l4lb runs it', () => {
  assert.ok(statSync(BUNDLE).mtimeMs >= statSync(MODULES).mtimeMs, 'dist/bundle/l4lb.mjs is older than dist/controller/cli/main.js: run make build');
});

/** A checkout's bin/l4lb with stand-ins for the bundle and the compiled modules that say which ran. */
function layout(t: { after: (fn: () => void) => void }, have: { bundle: boolean; modules: boolean }): { bin: string; bundle: string; modules: string } {
  const root = mkdtempSync(join(tmpdir(), 'l4lb-bin-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const bin = join(root, 'bin/l4lb');
  const bundle = join(root, 'dist/bundle/l4lb.mjs');
  const modules = join(root, 'dist/controller/cli/main.js');
  mkdirSync(dirname(bin), { recursive: true });
  copyFileSync(join(ROOT, 'bin/l4lb'), bin);
  copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json')); // "type": "module", as in the image
  // As make build leaves them: the bundle written after the modules.
  const built = Date.now() / 1000 - 60;
  for (const [file, name, want, mtime] of [[modules, 'modules', have.modules, built], [bundle, 'bundle', have.bundle, built + 1]] as const) {
    if (!want) continue;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `process.stdout.write(${JSON.stringify(name)} + ' ' + process.argv.slice(2).join(' '));\n`);
    utimesSync(file, mtime, mtime);
  }
  return { bin, bundle, modules };
}

test('bin/l4lb: runs the bundle when there is one, with the arguments', (t) => {
  const { bin } = layout(t, { bundle: true, modules: true });
  assert.deepEqual(node(bin, ['get', 'vips', '-o', 'json']), { status: 0, stdout: 'bundle get vips -o json', stderr: '' });
  const only = layout(t, { bundle: true, modules: false });
  assert.deepEqual(node(only.bin, ['version']), { status: 0, stdout: 'bundle version', stderr: '' });
});

test('bin/l4lb: runs the compiled modules without a bundle, or when a tsc since the bundle made it stale', (t) => {
  const none = layout(t, { bundle: false, modules: true });
  assert.deepEqual(node(none.bin, ['version']), { status: 0, stdout: 'modules version', stderr: '' });
  const stale = layout(t, { bundle: true, modules: true });
  const past = Date.now() / 1000 - 120;
  utimesSync(stale.bundle, past, past);
  assert.deepEqual(node(stale.bin, ['version']), { status: 0, stdout: 'modules version', stderr: '' });
});

test('bin/l4lb: neither built: one line saying to run make build, exit 2', (t) => {
  const { bin } = layout(t, { bundle: false, modules: false });
  assert.deepEqual(node(bin, ['version']), { status: 2, stdout: '', stderr: 'l4lb: not built yet; run `make build` in the repository first\n' });
});

test('bin/l4lb: an error inside the program is not mistaken for a missing build', (t) => {
  const { bin, bundle } = layout(t, { bundle: true, modules: true });
  writeFileSync(bundle, "import 'l4lb-no-such-package';\n");
  const r = node(bin, ['version']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Cannot find package 'l4lb-no-such-package'/);
  assert.doesNotMatch(r.stderr + r.stdout, /not built yet|modules version/);
});

/** The layout with node_modules (koffi) and a bundle stand-in that prints its PID and node flags. */
function flagsLayout(t: { after: (fn: () => void) => void }, withModules = true): string {
  const { bin, bundle } = layout(t, { bundle: true, modules: false });
  if (withModules) symlinkSync(join(ROOT, 'node_modules'), join(dirname(dirname(bin)), 'node_modules'));
  writeFileSync(bundle, "process.stdout.write(JSON.stringify({ pid: process.pid, flags: process.execArgv, args: process.argv.slice(2) }));\n");
  return bin;
}

function runBin(bin: string, args: string[], env: Record<string, string | undefined> = {}): { pid: number; status: number | null; out: { pid: number; flags: string[]; args: string[] } | undefined; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, L4LB_NODE_FLAGS: undefined, ...env } });
  return { pid: r.pid, status: r.status, out: r.stdout ? (JSON.parse(r.stdout) as { pid: number; flags: string[]; args: string[] }) : undefined, stderr: r.stderr };
}

test('bin/l4lb run: re-executes itself in place with the V8 heap flags; node flags given come after them', (t) => {
  const bin = flagsLayout(t);
  const r = runBin(bin, ['run', '--mesos', 'http://m:5050']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.out?.pid, r.pid, 'the same process (execve), not a child');
  assert.deepEqual(r.out?.flags, ['--max-semi-space-size=2', '--heap-growing-percent=20']);
  assert.deepEqual(r.out?.args, ['run', '--mesos', 'http://m:5050']);
  const mine = spawnSync(process.execPath, ['--max-semi-space-size=8', bin, 'run'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, L4LB_NODE_FLAGS: undefined } });
  assert.deepEqual((JSON.parse(mine.stdout) as { flags: string[] }).flags, ['--max-semi-space-size=2', '--heap-growing-percent=20', '--max-semi-space-size=8']);
});

test('the systemd unit, the image entrypoint and the kernel tests start node with exactly bin/l4lb\'s default flags (no re-exec)', () => {
  const flags = /const DEFAULT_RUN_FLAGS = '([^']*)';/.exec(readFileSync(join(ROOT, 'bin', 'l4lb'), 'utf8'))?.[1];
  assert.ok(flags);
  const unit = readFileSync(join(ROOT, 'deploy', 'systemd', 'l4lb.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node ${flags} /opt/l4lb/bin/l4lb run$`, 'm'));
  const entry = readFileSync(join(ROOT, 'deploy', 'container', 'entrypoint.sh'), 'utf8');
  assert.match(entry, new RegExp(`^exec node ${flags} "\\$\\{L4LB_HOME:-/opt/l4lb\\}/bin/l4lb" "\\$@"$`, 'm'));
  assert.deepEqual(L4LB_RUN_FLAGS, flags.split(' '));
});

test('bin/l4lb: other commands keep node as started; L4LB_NODE_FLAGS replaces the flags, empty turns them off', (t) => {
  const bin = flagsLayout(t);
  assert.deepEqual(runBin(bin, ['get', 'vips']).out?.flags, []);
  assert.deepEqual(runBin(bin, ['run'], { L4LB_NODE_FLAGS: '--max-semi-space-size=1' }).out?.flags, ['--max-semi-space-size=1']);
  assert.deepEqual(runBin(bin, ['run'], { L4LB_NODE_FLAGS: '' }).out?.flags, []);
});

test('bin/l4lb run: without koffi it says so in one line and runs with V8 defaults', (t) => {
  const bin = flagsLayout(t, false);
  const r = runBin(bin, ['run']);
  assert.equal(r.status, 0);
  assert.deepEqual(r.out?.flags, []);
  assert.match(r.stderr, /^l4lb: running without the V8 heap flags --max-semi-space-size=2 --heap-growing-percent=20: .*koffi.*\n$/);
});
