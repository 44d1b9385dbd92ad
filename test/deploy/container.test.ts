// deploy/container, offline (no container runtime here): the Dockerfile only
// copies what exists and what the build context lets in; the image's compile
// takes no test code and is bundled as make build bundles it; the runtime
// stage's files, laid out as the Dockerfile lays them, run the same CLI as
// the checkout (from the bundle); prepare-node.mjs loads the modules and sets
// the daemon's sysctls.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ROOT, scratch, copyArgs, dockerStages, dockerignore, envArgs, read, type DockerStage } from './files.js';

const DOCKERFILE = 'deploy/container/Dockerfile';

function stages(): DockerStage[] {
  return dockerStages(read(DOCKERFILE));
}

function instr(stage: DockerStage, op: string): string[] {
  return stage.instructions.filter((i) => i.op === op).map((i) => i.args);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('container: two stages on node 20 Debian slim; the runtime stage runs bin/l4lb through the entrypoint', () => {
  const [builder, runtime, ...more] = stages();
  assert.equal(more.length, 0);
  assert.equal(builder!.name, 'builder');
  for (const s of [builder!, runtime!]) assert.match(s.base, /^node:20-bookworm-slim(@sha256:[0-9a-f]{64})?$/, `${s.name} base`);
  assert.deepEqual(instr(runtime!, 'ENTRYPOINT'), ['["/usr/local/bin/l4lb"]']);
  assert.deepEqual(instr(runtime!, 'CMD'), ['["run"]']);
  const workdir = instr(runtime!, 'WORKDIR')[0];
  assert.equal(envArgs(instr(runtime!, 'ENV')[0]!).get('L4LB_HOME'), workdir, 'the entrypoint finds bin/l4lb in the WORKDIR');
  const entry = runtime!.instructions.map((i) => (i.op === 'COPY' ? copyArgs(i.args) : undefined)).find((c) => c?.dest === '/usr/local/bin/l4lb');
  assert.deepEqual(entry?.sources, ['deploy/container/entrypoint.sh']);
  assert.ok(statSync(join(ROOT, 'deploy/container/entrypoint.sh')).mode & 0o111, 'entrypoint.sh is executable (COPY keeps the mode)');
  assert.match(instr(runtime!, 'RUN').join('\n'), /apt-get install -y --no-install-recommends [^\n]*\biptables\b[^\n]*\bkmod\b/);
});

test('container: every file the Dockerfile copies from the context exists and passes Dockerfile.dockerignore', () => {
  const excluded = dockerignore(read('deploy/container/Dockerfile.dockerignore'));
  let n = 0;
  for (const s of stages()) {
    for (const i of s.instructions.filter((x) => x.op === 'COPY' || x.op === 'ADD')) {
      const c = copyArgs(i.args);
      if (c.flags.has('from')) continue;
      for (const src of c.sources) {
        n++;
        assert.ok(existsSync(join(ROOT, src)), `${DOCKERFILE}:${i.line}: ${src} does not exist`);
        assert.ok(!excluded(src), `${DOCKERFILE}:${i.line}: ${src} is excluded from the build context`);
      }
    }
  }
  assert.ok(n >= 8, `${n} sources`);
  // The context keeps out the checkout's own builds and the tests.
  for (const p of ['node_modules/koffi/package.json', 'dist/controller/cli/main.js', 'controller/config/config.test.ts', 'test/deploy/files.ts', '.run/x'])
    assert.ok(excluded(p), `${p} stays out of the context`);
  assert.ok(!excluded('controller/cli/main.ts') && !excluded('native/ffi/libc.ts'));
});

test('container: the image compiles the daemon and CLI without test or bench code', () => {
  const r = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'deploy/container/tsconfig.image.json'), '--listFilesOnly']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const files = r.stdout
    .split('\n')
    .filter((f) => f.startsWith(ROOT + '/'))
    .map((f) => relative(ROOT, f));
  assert.ok(files.includes('controller/cli/main.ts') && files.includes('native/ffi/libc.ts'), 'the CLI and the native layer are compiled');
  const strays = files.filter((f) => !f.startsWith('node_modules/') && (!/^(controller|native)\//.test(f) || f.endsWith('.test.ts')));
  assert.deepEqual(strays, [], 'nothing outside controller/ and native/, no tests (an import of test code would pull it in)');
});

test('container: the builder bundles as make build does, from what it copied, and the runtime stage takes only the bundles', () => {
  const [builder, runtime] = stages();
  // Compile, bundle, then drop the dev packages (esbuild among them).
  const runs = instr(builder!, 'RUN').join('\n');
  const order = ['tsc -p deploy/container/tsconfig.image.json', 'node scripts/bundle.mjs', 'npm prune --omit=dev'].map((s) => runs.indexOf(s));
  assert.ok(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)), `builder RUN: tsc, bundle, prune in that order:\n${runs}`);
  // Each entry point of scripts/bundle.mjs is in the builder: compiled by the image's tsc or copied in.
  const copied = builder!.instructions.filter((i) => i.op === 'COPY').flatMap((i) => copyArgs(i.args).sources);
  const entries = [...read('scripts/bundle.mjs').matchAll(/\bin: '([^']+)'/g)].map((m) => m[1]!);
  assert.deepEqual(entries, ['dist/controller/cli/main.js', 'deploy/container/prepare-node.mjs']);
  assert.ok(copied.includes('scripts/bundle.mjs') && copied.includes('deploy/container/prepare-node.mjs') && copied.includes('controller'), copied.join(' '));
  // The runtime stage: the bundles, not the compiled trees (so bin/l4lb has only the bundle to run).
  const fromBuilder = runtime!.instructions.filter((i) => i.op === 'COPY').map((i) => copyArgs(i.args)).filter((c) => c.flags.get('from') === 'builder');
  const dist = fromBuilder.flatMap((c) => c.sources).filter((s) => s.startsWith('/src/dist/'));
  assert.deepEqual(dist.sort(), ['/src/dist/bundle/l4lb.mjs', '/src/dist/bundle/prepare-node.mjs']);
  // make build writes the same files (the image layout below copies them from the checkout).
  for (const f of dist) assert.ok(existsSync(join(ROOT, relative('/src', f))), `${f}: run make build`);
});

/**
 * The runtime stage's files, laid out under a temp root as the Dockerfile's
 * COPY lines put them: context files from the checkout, builder outputs from
 * the checkout's build (`/src/X` is the checkout's X; node_modules as the
 * builder's `npm prune --omit=dev` leaves it).
 */
function imageLayout(): { root: string; home: string } {
  const root = scratch('image');
  const runtime = stages().at(-1)!;
  let workdir = '/';
  for (const i of runtime.instructions) {
    if (i.op === 'WORKDIR') workdir = i.args;
    if (i.op !== 'COPY') continue;
    const c = copyArgs(i.args);
    const destAbs = c.dest.startsWith('/') ? c.dest : join(workdir, c.dest);
    for (const src of c.sources) {
      const from = c.flags.get('from');
      assert.ok(from === undefined || from === 'builder', `COPY --from=${from}`);
      const local = from ? join(ROOT, relative('/src', src)) : join(ROOT, src);
      assert.ok(existsSync(local), `${src} (${local}) exists after make build`);
      const target = join(root, c.dest.endsWith('/') || c.sources.length > 1 ? join(destAbs, src.split('/').pop()!) : destAbs);
      mkdirSync(dirname(target), { recursive: true });
      if (src === '/src/node_modules') prunedNodeModules(target);
      else cpSync(local, target, { recursive: true });
    }
  }
  return { root, home: join(root, workdir) };
}

/**
 * The checkout's node_modules after `npm prune --omit=dev`: each package of
 * the lock not marked dev (and present: optional ones are for other
 * platforms), copied without its nested node_modules (those are entries of
 * their own). Copies, not a symlink: node resolves a linked package's imports
 * from its real path, the checkout's full node_modules, which would hide a
 * package the image lacks.
 */
function prunedNodeModules(target: string): void {
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean }> };
  for (const [path, entry] of Object.entries(lock.packages)) {
    const local = join(ROOT, path);
    if (path === '' || entry.dev === true || !existsSync(local)) continue;
    const nested = join(local, 'node_modules');
    cpSync(local, join(target, relative('node_modules', path)), { recursive: true, filter: (src) => src !== nested });
  }
}

test('container: the entrypoint in the image layout runs the same CLI as bin/l4lb', () => {
  const { root, home } = imageLayout();
  const entry = join(root, 'usr/local/bin/l4lb');
  for (const args of [['version'], ['version', '-o', 'json'], ['run', '--help'], ['--help'], ['no-such-verb']]) {
    const image = run(entry, args, { L4LB_HOME: home });
    const checkout = run(process.execPath, [join(ROOT, 'bin/l4lb'), ...args]);
    assert.equal(image.status, checkout.status, `l4lb ${args.join(' ')}: exit ${image.status}, ${image.stderr}`);
    assert.equal(image.stdout, checkout.stdout, `l4lb ${args.join(' ')}: stdout`);
    assert.equal(image.stderr, checkout.stderr, `l4lb ${args.join(' ')}: stderr`);
  }
  assert.match(run(entry, ['version'], { L4LB_HOME: home }).stdout, /^l4lb \d+\.\d+\.\d+ /);
  assert.ok(existsSync(join(home, 'dist/bundle/l4lb.mjs')) && !existsSync(join(home, 'dist/controller')), 'the image runs the bundle: no compiled modules beside it');
  // What the bundle leaves outside it loads from the image's node_modules
  // (koffi opening libc, the Kubernetes client's whole module graph); what it
  // holds inside is not shipped again.
  writeFileSync(join(home, 'dist/bundle/externals.mjs'), [
    "const koffi = (await import('koffi')).default;",
    'koffi.load(null);',
    "const k8s = await import('@kubernetes/client-node');",
    'console.log(typeof koffi.load, typeof k8s.KubeConfig, typeof k8s.Watch);',
  ].join('\n'));
  const ext = run(process.execPath, [join(home, 'dist/bundle/externals.mjs')]);
  assert.equal(ext.status, 0, ext.stderr);
  assert.equal(ext.stdout, 'function function function\n');
  for (const bundled of ['winston', 'prom-client', 'commander', 'dns-packet', 'esbuild', 'typescript'])
    assert.ok(!existsSync(join(home, 'node_modules', bundled)), `${bundled} is not in the image's node_modules`);
  // The image's prepare-node.mjs is the bundled one (the sysctl module inside): it must run without dist/controller.
  const sys = fakeSysctls('6.1.0');
  const r = run(process.execPath, [join(home, 'deploy/container/prepare-node.mjs'), '--skip-modprobe', '--sysctl-root', sys]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

const SYSCTLS = ['net/ipv4/vs/conntrack', 'net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template', 'net/ipv4/vs/conn_reuse_mode', 'net/ipv4/ip_forward'];

/** A sysctl tree like the node's /proc/sys/net with every value 0; `kernel/osrelease` for the version. */
function fakeSysctls(release: string): string {
  const root = scratch('sysctl');
  for (const k of SYSCTLS) {
    mkdirSync(dirname(join(root, k)), { recursive: true });
    writeFileSync(join(root, k), '0\n');
  }
  mkdirSync(join(root, 'kernel'));
  writeFileSync(join(root, 'kernel/osrelease'), `${release}\n`);
  return root;
}

/** A `modprobe` on PATH that records its argument and fails for the names in `fail`. */
function fakeModprobe(fail: string[]): { dir: string; calls: () => string[] } {
  const dir = scratch('modprobe');
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  const cases = fail.map((m) => `  ${m}) echo "modprobe: FATAL: Module ${m} not found" >&2; exit 1;;`).join('\n');
  writeFileSync(join(dir, 'modprobe'), `#!/bin/sh\necho "$@" >> '${log}'\ncase "$1" in\n${cases}\nesac\nexit 0\n`);
  chmodSync(join(dir, 'modprobe'), 0o755);
  return { dir, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

function prepareNode(args: string[], path?: string) {
  return run(process.execPath, [join(ROOT, 'deploy/container/prepare-node.mjs'), ...args], path ? { PATH: `${path}:${process.env.PATH}` } : {});
}

test('prepare-node: loads each module and sets the sysctls as the daemon decides them (conn_reuse_mode by kernel)', () => {
  const mp = fakeModprobe([]);
  for (const [release, reuse] of [['5.4.0-150-generic', '0'], ['6.1.0-13-amd64', '1']] as const) {
    const sys = fakeSysctls(release);
    const r = prepareNode(['--sysctl-root', sys], mp.dir);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const got = Object.fromEntries(SYSCTLS.map((k) => [k, readFileSync(join(sys, k), 'utf8').trim()]));
    assert.deepEqual(got, {
      'net/ipv4/vs/conntrack': '1',
      'net/ipv4/vs/expire_nodest_conn': '1',
      'net/ipv4/vs/expire_quiescent_template': '1',
      'net/ipv4/vs/conn_reuse_mode': reuse,
      'net/ipv4/ip_forward': '1',
    }, `kernel ${release}`);
  }
  assert.deepEqual(mp.calls().slice(0, 7), ['ip_vs', 'ip_vs_wlc', 'nf_conntrack', 'xt_ipvs', 'dummy', 'ip_tables', 'ip6_tables']);
});

test('prepare-node: fails on a required module or a sysctl it cannot set, not on a legacy iptables module', () => {
  const legacy = fakeModprobe(['ip6_tables']);
  const r1 = prepareNode(['--sysctl-root', fakeSysctls('6.1.0')], legacy.dir);
  assert.equal(r1.status, 0, r1.stdout + r1.stderr);
  assert.match(r1.stdout, /module ip6_tables: not loaded \(only iptables-legacy needs it\): modprobe: FATAL/);

  const required = fakeModprobe(['xt_ipvs']);
  const r2 = prepareNode(['--sysctl-root', fakeSysctls('6.1.0')], required.dir);
  assert.equal(r2.status, 1);
  assert.match(r2.stdout, /module xt_ipvs: FAILED: modprobe: FATAL: Module xt_ipvs not found/);

  const sys = fakeSysctls('6.1.0');
  rmSync(join(sys, 'net/ipv4/vs'), { recursive: true });
  const r3 = prepareNode(['--skip-modprobe', '--sysctl-root', sys]);
  assert.equal(r3.status, 1);
  assert.match(r3.stdout, /sysctl net\.ipv4\.vs\.conntrack: FAILED: read net\.ipv4\.vs\.conntrack: ENOENT: .*ip_vs module is not loaded/);
  assert.equal(readFileSync(join(sys, 'net/ipv4/ip_forward'), 'utf8').trim(), '1', 'the other sysctls are still set');

  assert.equal(prepareNode(['--sysctl-root']).status, 2);
  assert.equal(prepareNode(['--bogus']).status, 2);
});
