// README.md is checked against the code it documents, so a typo or a stale
// name fails `make test`:
// - every `l4lb ...` command line (fenced code blocks and inline code) parses
//   with the real CLI (controller/cli/program.ts) with its actions replaced,
//   so an unknown command, flag or output format fails; `l4lb run` lines
//   also go through the real config loader (values, sources); `version` and
//   `plan --file <repo file>` run for real;
// - every `make <target>` exists in the Makefile;
// - every L4LB_* variable is a setting of controller/config/schema.ts or one
//   the code reads (process.env.L4LB_*);
// - every inline `section.key` and `--flag` exists (schema; CLI options);
// - config-file and VIP-file examples load with the real loaders;
// - every metric name (and {labels}) exists in controller/metrics;
// - every status API path answers (not 404) from the real route table;
// - an example `reconcile pass` log line has exactly the fields the code logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';

import { buildProgram, run as runCli } from '../../controller/cli/program.js';
import { parseOutput } from '../../controller/cli/output/format.js';
import { ConfigError, SETTINGS, envName, flagName, loadConfig } from '../../controller/config/index.js';
import { Metrics } from '../../controller/metrics/index.js';
import { createApiHandler } from '../../controller/status/api.js';
import type { StatusProvider } from '../../controller/status/recorder.js';
import { parseVipFile } from '../../controller/sources/file-schema.js';
import { silentLogger } from '../../controller/log.js';
import { passLogFields, type PassResult } from '../../controller/reconcile/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

// ---------------------------------------------------------------- Markdown

interface Block {
  info: string;
  line: number;
  lines: string[];
}

/** Fenced code blocks (``` or ~~~, possibly indented in a list) and the text outside them. */
function parseMarkdown(md: string): { blocks: Block[]; prose: Array<{ line: number; text: string }> } {
  const blocks: Block[] = [];
  const prose: Array<{ line: number; text: string }> = [];
  const lines = md.split('\n');
  let open: { fence: string; block: Block } | undefined;
  lines.forEach((l, i) => {
    const m = /^\s*(`{3,}|~{3,})\s*(.*)$/.exec(l);
    if (open) {
      if (m && m[1]!.startsWith(open.fence) && m[2] === '') open = undefined;
      else open.block.lines.push(l);
      return;
    }
    if (m) {
      const block = { info: m[2]!.trim().split(/\s+/)[0] ?? '', line: i + 1, lines: [] };
      blocks.push(block);
      open = { fence: m[1]!, block };
      return;
    }
    prose.push({ line: i + 1, text: l });
  });
  assert.equal(open, undefined, 'README.md has an unclosed code fence');
  return { blocks, prose };
}

const { blocks, prose } = parseMarkdown(README);

/** Inline code spans of the prose (single backticks). */
const spans: Array<{ line: number; text: string }> = prose.flatMap(({ line, text }) =>
  [...text.matchAll(/(?<!`)`([^`\n]+)`(?!`)/g)].map((m) => ({ line, text: m[1]!.trim() })),
);

/** Blocks that hold data, not shell lines. */
const DATA_BLOCKS = new Set(['yaml', 'yml', 'json', 'ts', 'typescript', 'js', 'ini', 'erlang', 'dockerfile']);

// ---------------------------------------------------------------- shell lines

/** Splits a shell line into words (quotes, backslash escapes); drops a trailing # comment. */
function shellWords(line: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let cur = '';
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(cur);
    cur = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length) commands.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const j = line.indexOf("'", i + 1);
      cur += line.slice(i + 1, j < 0 ? line.length : j);
      inWord = true;
      i = j < 0 ? line.length : j;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        cur += line[j];
      }
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (c === '#' && !inWord) {
      break;
    } else if (c === ' ' || c === '\t') {
      endWord();
    } else if (c === '|' || c === ';' || c === '&' || c === '>' || c === '<') {
      endCommand();
      while (i + 1 < line.length && '|&><'.includes(line[i + 1]!)) i++;
      // A redirection's target is not a command.
      if (c === '>' || c === '<') {
        while (i + 1 < line.length && line[i + 1] === ' ') i++;
        while (i + 1 < line.length && !' |;&'.includes(line[i + 1]!)) i++;
      }
    } else {
      cur += c;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

interface Found {
  line: number;
  text: string;
  /** From an inline code span: there `l4lb run` or `l4lb endpoints` may name a command without being a whole command line. */
  span: boolean;
  /** Variables assigned before the command (`L4LB_X=1 l4lb ...`). */
  env: Record<string, string>;
  argv: string[];
}

const L4LB_BIN = /^(?:\.?\/?bin\/l4lb|l4lb|\/usr\/local\/bin\/l4lb|\/opt\/l4lb\/bin\/l4lb)$/;

/** The l4lb and make commands of a shell line, wherever they sit (after sudo, env, `--`, in a pipeline). */
function commandsOf(line: number, text: string, span: boolean): { l4lb: Found[]; make: Found[] } {
  const out = { l4lb: [] as Found[], make: [] as Found[] };
  for (let words of shellWords(text)) {
    const env: Record<string, string> = {};
    for (;;) {
      const w = words[0];
      if (w === undefined) break;
      if (w === '$' || w === 'sudo' || w === 'env' || w === 'exec' || w === 'then' || w === 'do') words = words.slice(1);
      else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) {
        const eq = w.indexOf('=');
        env[w.slice(0, eq)] = w.slice(eq + 1);
        words = words.slice(1);
      } else break;
    }
    // `kubectl exec ... -- l4lb ipvs list`, `node bin/l4lb ...`
    const dd = words.indexOf('--');
    if (dd >= 0 && words[dd + 1] !== undefined && L4LB_BIN.test(words[dd + 1]!)) words = words.slice(dd + 1);
    if (words[0] === 'node' && words[1] !== undefined && L4LB_BIN.test(words[1])) words = words.slice(1);
    if (words[0] !== undefined && L4LB_BIN.test(words[0])) out.l4lb.push({ line, text, span, env, argv: words.slice(1) });
    else if (words[0] === 'make') out.make.push({ line, text, span, env, argv: words.slice(1) });
  }
  return out;
}

/** Shell lines of the code blocks (continuations joined) and inline spans that start with a command. */
function shellLines(): Array<{ line: number; text: string; span: boolean }> {
  const out: Array<{ line: number; text: string; span: boolean }> = [];
  for (const b of blocks) {
    if (DATA_BLOCKS.has(b.info)) continue;
    let acc = '';
    let start = 0;
    b.lines.forEach((l, i) => {
      if (acc === '') start = b.line + 1 + i;
      if (/\\\s*$/.test(l)) {
        acc += l.replace(/\\\s*$/, ' ');
        return;
      }
      out.push({ line: start, text: acc + l, span: false });
      acc = '';
    });
    if (acc) out.push({ line: start, text: acc, span: false });
  }
  for (const s of spans) if (/^(?:\$ )?(?:sudo )?(?:[A-Z0-9_]+=\S* )*(?:l4lb|bin\/l4lb|make) /.test(s.text) || /^(?:l4lb|make)$/.test(s.text)) out.push({ ...s, span: true });
  return out;
}

const SHELL = shellLines().map((s) => commandsOf(s.line, s.text, s.span));
const L4LB_COMMANDS = SHELL.flatMap((c) => c.l4lb);
const MAKE_COMMANDS = SHELL.flatMap((c) => c.make);

// ---------------------------------------------------------------- examples (config and VIP files)

/** yaml/json blocks whose first line is `# <path>`: config files (anything but a `vips:` file) and VIP files. */
const EXAMPLES = blocks
  .filter((b) => (b.info === 'yaml' || b.info === 'yml') && /^#\s*(\/\S+\.(?:ya?ml|json))\s*$/.test(b.lines[0] ?? ''))
  .map((b) => ({ path: /^#\s*(\S+)/.exec(b.lines[0]!)![1]!, line: b.line, text: b.lines.join('\n') + '\n', vipFile: /^vips:/m.test(b.lines.join('\n')) }));

const tmp = mkdtempSync(join(tmpdir(), 'l4lb-readme-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const exampleFiles = new Map<string, string>();
EXAMPLES.forEach((e, i) => {
  const f = join(tmp, `example-${i}${e.path.endsWith('.json') ? '.json' : '.yaml'}`);
  writeFileSync(f, e.text);
  exampleFiles.set(e.path, f);
});

/** A file a README command names: a README example, else a file of the repository. */
function fileFor(p: string): string | undefined {
  const ex = exampleFiles.get(p);
  if (ex) return ex;
  const inRepo = p.startsWith('/') ? undefined : join(ROOT, p);
  return inRepo && existsSync(inRepo) ? inRepo : undefined;
}

// ---------------------------------------------------------------- the CLI, actions replaced

function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap(allCommands)];
}

function outputFormats(cmd: Command): string[] | undefined {
  const o = cmd.options.find((x) => x.long === '--output');
  const m = o && /output format: ([a-z|]+)/.exec(o.description);
  return m ? m[1]!.split('|') : undefined;
}

/** Parses argv with the real command tree; returns the problem, or undefined when it parses and validates. */
async function checkL4lb(argv: readonly string[], env: Record<string, string> = {}, mention = false): Promise<string | undefined> {
  const program = buildProgram(() => undefined);
  let hit: { cmd: Command; opts: Record<string, unknown> } | undefined;
  for (const c of allCommands(program)) {
    c.configureOutput({ writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined });
    if (c.commands.length === 0) {
      c.action((...args: unknown[]) => {
        const cmd = args[args.length - 1] as Command;
        hit = { cmd, opts: cmd.opts() };
      });
    }
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return undefined;
      // Prose may name a command without its arguments (`l4lb endpoints`, `l4lb get`); a typo is still an error.
      if (mention && (e.code === 'commander.missingArgument' || e.code === 'commander.help')) return undefined;
      return e.message;
    }
    throw e;
  }
  if (!hit) return mention ? undefined : 'no command ran (a command group without its subcommand?)';
  const { cmd, opts } = hit;
  const formats = outputFormats(cmd);
  if (formats && typeof opts['output'] === 'string') {
    try {
      parseOutput(opts['output'], formats);
    } catch (e) {
      return (e as Error).message;
    }
  }
  if (cmd.name() === 'run') return checkRun(opts, env, !(mention && argv.length === 1));
  return undefined;
}

/** What `l4lb run` does with its flags before it starts the daemon: load and validate the configuration. */
function checkRun(opts: Record<string, unknown>, env: Record<string, string>, requireSource: boolean): string | undefined {
  const flags: Record<string, string> = {};
  for (const s of SETTINGS) {
    const v = opts[new Option(`--${flagName(s)} <x>`).attributeName()];
    if (v !== undefined) flags[s.key] = Array.isArray(v) ? v.join(',') : String(v);
  }
  const named = (opts['config'] as string | undefined) ?? env['L4LB_CONFIG'];
  const file = named === undefined ? undefined : fileFor(named);
  if (named !== undefined && file === undefined) return `config file ${named} is neither a README example (a yaml block starting "# ${named}") nor a repository file`;
  try {
    const cfg = loadConfig({ ...(file ? { file } : {}), env, flags });
    if (requireSource && !cfg.mesos.masters.length && !cfg.marathon.urls.length && !cfg.file.paths.length && !cfg.kubernetes.enabled && cfg.kubernetes.kubeconfig === undefined) {
      return 'no source configured (l4lb run would refuse to start)';
    }
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return undefined;
}

// ---------------------------------------------------------------- tests

test('the README has commands to check (the extractor works)', () => {
  assert.ok(L4LB_COMMANDS.length >= 10, `only ${L4LB_COMMANDS.length} l4lb commands found`);
  assert.ok(MAKE_COMMANDS.some((c) => c.argv[0] === 'demo') && MAKE_COMMANDS.some((c) => c.argv[0] === 'test'), 'make demo and make test are in the README');
  assert.deepEqual(shellWords(`L4LB_X=1 sudo l4lb get vips -o 'wide' | grep x # comment`), [['L4LB_X=1', 'sudo', 'l4lb', 'get', 'vips', '-o', 'wide'], ['grep', 'x']]);
});

test('the checker itself rejects typos (unknown command, flag, format, setting value)', async () => {
  assert.equal(await checkL4lb(['get', 'vips', '-o', 'wide']), undefined);
  assert.match((await checkL4lb(['get', 'vipz']))!, /unknown command/);
  assert.match((await checkL4lb(['get', 'vips', '--wach']))!, /unknown option/);
  assert.match((await checkL4lb(['get', 'vips', '-o', 'wid']))!, /unknown output format/);
  assert.match((await checkL4lb(['get']))!, /./);
  assert.match((await checkL4lb(['run', '--marathon', 'http://m:8080', '--ipvs-tcp-timeout', '10 min']))!, /ipvs-tcp-timeout/);
  assert.match((await checkL4lb(['run']))!, /no source/);
  assert.match((await checkL4lb(['endpoints']))!, /missing required argument/);
  // In prose, naming a command is fine; naming one that does not exist is not.
  assert.equal(await checkL4lb(['endpoints'], {}, true), undefined);
  assert.equal(await checkL4lb(['get'], {}, true), undefined);
  assert.match((await checkL4lb(['gett'], {}, true))!, /unknown command/);
  assert.match((await checkL4lb(['get', 'vips', '--wide'], {}, true))!, /unknown option/);
});

test('no inline code span of the README crosses a line break (the checks below would not see it)', () => {
  const odd = prose.filter(({ text }) => (text.match(/`/g) ?? []).length % 2 === 1).map(({ line, text }) => `README.md:${line}: ${text}`);
  assert.deepEqual(odd, []);
});

test('every l4lb command in the README parses with the real CLI', async () => {
  const problems: string[] = [];
  for (const c of L4LB_COMMANDS) {
    const p = await checkL4lb(c.argv, c.env, c.span);
    if (p) problems.push(`README.md:${c.line}: l4lb ${c.argv.join(' ')}: ${p.split('\n')[0]}`);
  }
  assert.deepEqual(problems, []);
});

test('README commands that need neither a daemon nor a kernel run for real', async () => {
  let ran = 0;
  for (const c of L4LB_COMMANDS) {
    const argv = [...c.argv];
    if (argv[0] === 'plan') {
      // Only VIP files of the repository or the README: no network.
      const sources = argv.flatMap((a, i) => (['--file', '--mesos', '--marathon'].includes(a) ? [[a, argv[i + 1] ?? '']] : []));
      if (sources.length === 0 || sources.some(([k, v]) => k !== '--file' || fileFor(v!) === undefined)) continue;
      for (let i = 0; i < argv.length; i++) if (argv[i] === '--file') argv[i + 1] = fileFor(argv[i + 1]!)!;
    } else if (argv[0] !== 'version') continue;
    let err = '';
    const code = await runCli(argv, { out: () => undefined, err: (s) => void (err += s) });
    assert.equal(code, 0, `README.md:${c.line}: l4lb ${c.argv.join(' ')} exited ${code}: ${err}`);
    ran++;
  }
  assert.ok(ran > 0, 'at least one README command ran');
});

test('every make target in the README exists in the Makefile', () => {
  const makefile = readFileSync(join(ROOT, 'Makefile'), 'utf8');
  const targets = new Set<string>();
  for (const m of makefile.matchAll(/^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:(?!=)/gm)) for (const t of m[1]!.split(/\s+/)) targets.add(t);
  const missing = MAKE_COMMANDS.flatMap((c) => c.argv.filter((a) => !a.startsWith('-') && !a.includes('=') && !targets.has(a)).map((a) => `README.md:${c.line}: make ${a}`));
  assert.deepEqual(missing, []);
});

/** .ts files under dir, recursively. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const BIN = readFileSync(join(ROOT, 'bin/l4lb'), 'utf8');

test('every L4LB_* variable in the README is a setting or one the code reads', () => {
  const known = new Set(SETTINGS.map(envName));
  for (const dir of ['controller', 'test/harness', 'test/demo', 'bench']) {
    for (const f of sources(join(ROOT, dir))) for (const m of readFileSync(f, 'utf8').matchAll(/process\.env\.(L4LB_[A-Z0-9_]+)/g)) known.add(m[1]!);
  }
  for (const m of BIN.matchAll(/process\.env\.(L4LB_[A-Z0-9_]+)/g)) known.add(m[1]!);
  const unknown = README.split('\n').flatMap((l, i) => [...l.matchAll(/\bL4LB_[A-Z0-9_]+/g)].filter((m) => !known.has(m[0])).map((m) => `README.md:${i + 1}: ${m[0]}`));
  assert.deepEqual(unknown, []);
});

test('every inline config key and --flag in the README exists', () => {
  const keys = new Set(SETTINGS.map((s) => s.key));
  const sections = new Set(SETTINGS.filter((s) => s.key.includes('.')).map((s) => s.key.split('.')[0]!));
  const flags = new Set(allCommands(buildProgram(() => undefined)).flatMap((c) => c.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x))));
  flags.add('--help');
  // The node flags bin/l4lb gives `l4lb run` (DEFAULT_RUN_FLAGS).
  for (const m of (/const DEFAULT_RUN_FLAGS = .*/.exec(BIN)?.[0] ?? '').matchAll(/--[a-z][a-z0-9-]*/g)) flags.add(m[0]);
  const problems: string[] = [];
  for (const s of spans) {
    const key = /^([a-z][a-z0-9]*)\.([a-z][a-z0-9-]*)$/.exec(s.text);
    if (key && sections.has(key[1]!) && !keys.has(s.text)) problems.push(`README.md:${s.line}: config key ${s.text}`);
    const flag = /^(--[a-z][a-z0-9-]*)/.exec(s.text);
    if (flag && !flags.has(flag[1]!)) problems.push(`README.md:${s.line}: flag ${flag[1]}`);
  }
  assert.deepEqual(problems, []);
});

test('config-file and VIP-file examples in the README load with the real loaders', () => {
  const problems: string[] = [];
  for (const e of EXAMPLES) {
    const f = exampleFiles.get(e.path)!;
    if (e.vipFile) {
      const r = parseVipFile(e.text, e.path, 'file');
      if (!r.ok) problems.push(`README.md:${e.line}: ${e.path}: ${r.problems.map((p) => `${p.path} ${p.message}`).join('; ')}`);
    } else {
      try {
        loadConfig({ file: f, env: {} });
      } catch (e2) {
        if (!(e2 instanceof ConfigError)) throw e2;
        problems.push(`README.md:${e.line}: ${e.path}: ${e2.message}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('every metric in the README exists, with the labels it shows', async () => {
  const m = new Metrics(
    { sources: () => [], dnsQueries: () => new Map(), rejectedLabels: () => 0, ready: () => true },
    { version: '0.0.0', processMetrics: true },
  );
  const metrics = new Map<string, { type: string; labels: string[] }>();
  for (const j of await m.registry.getMetricsAsJSON()) {
    const labels = [...((m.registry.getSingleMetric(j.name) as unknown as { labelNames?: string[] }).labelNames ?? [])];
    metrics.set(j.name, { type: String(j.type), labels });
    if (String(j.type) === 'histogram') for (const sfx of ['_bucket', '_sum', '_count']) metrics.set(j.name + sfx, { type: 'histogram-series', labels: sfx === '_bucket' ? [...labels, 'le'] : labels });
  }
  const problems: string[] = [];
  README.split('\n').forEach((l, i) => {
    for (const x of l.matchAll(/\b((?:l4lb|process|nodejs)_[a-z0-9_]*[a-z0-9])(\{([a-z_, ]*)\})?/g)) {
      const name = x[1]!;
      const known = metrics.get(name);
      if (!known) {
        problems.push(`README.md:${i + 1}: no metric ${name}`);
        continue;
      }
      if (x[3] !== undefined) {
        const shown = x[3].split(',').map((s) => s.trim()).filter(Boolean).sort();
        if (shown.join(',') !== [...known.labels].sort().join(',')) problems.push(`README.md:${i + 1}: ${name} has labels {${known.labels.join(',')}}, not {${shown.join(',')}}`);
      }
    }
  });
  assert.deepEqual(problems, []);
  assert.ok(metrics.has('l4lb_reconcile_pass_duration_seconds') && metrics.has('process_cpu_seconds_total'), 'the registry lists the metrics');
});

test('every status API path in the README answers from the real routes', async () => {
  const provider: StatusProvider = {
    dcosVips: () => [],
    vipSummaries: () => [],
    vipDetails: () => [{} as never],
    status: () => ({}) as never,
    health: () => ({ ok: true, message: 'ok' }),
    ready: () => true,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
  };
  const server: Server = createServer(createApiHandler(provider, silentLogger()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const get = (path: string) =>
    new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
  try {
    const paths = new Map<string, number>();
    README.split('\n').forEach((l, i) => {
      for (const x of l.matchAll(/(?:^|[\s`"'(|]|https?:\/\/[^\s/`"']+)(\/(?:v1\/[A-Za-z0-9_{}./-]*[A-Za-z0-9_}]|healthz|readyz|metrics)\b)/g)) paths.set(x[1]!, i + 1);
    });
    assert.ok(paths.has('/v1/vips') && paths.has('/metrics'), 'the README names the status API routes');
    const problems: string[] = [];
    for (const [p, line] of paths) {
      const status = await get(p.replace(/\{[a-z]+\}/g, 'myapp.marathon'));
      if (status === 404 || status === 405) problems.push(`README.md:${line}: GET ${p} -> ${status}`);
    }
    assert.deepEqual(problems, []);
  } finally {
    server.close();
  }
});

test('example reconcile-pass log lines in the README have the fields the reconciler logs', () => {
  const pass = (over: Partial<PassResult>): PassResult => ({
    trigger: 'change', full: false, startedAt: 0, durationMs: 1, wallMs: 1, chunks: 1, maxChunkMs: 1, keys: 1,
    ops: { 'add-service': 0, 'edit-service': 0, 'delete-service': 0, 'add-destination': 0, 'edit-destination': 0, 'delete-destination': 0 },
    opsTotal: 0, failedOps: 0, vips: 1, backends: 1, draining: 0, foreign: 0, events: [], errors: [], failedVips: [], ...over,
  });
  const winston = ['level', 'message', 'timestamp', 'component'];
  const base = new Set([...Object.keys(passLogFields(pass({}))), ...winston]);
  const all = new Set([
    ...Object.keys(passLogFields(pass({ chunks: 3, errors: [{ vip: 'tcp/11.0.0.1:80', code: 'X', message: 'x' }], failedVips: ['tcp/11.0.0.1:80'] }))),
    ...winston,
  ]);
  const opKinds = Object.keys(pass({}).ops).sort().join(',');
  const examples = blocks.flatMap((b) => b.lines.map((l, i) => ({ line: b.line + 1 + i, l: l.trim() }))).filter((x) => x.l.startsWith('{') && x.l.includes('"reconcile pass"'));
  assert.ok(examples.length > 0, 'the README shows a reconcile pass log line');
  for (const { line, l } of examples) {
    const o = JSON.parse(l) as Record<string, unknown>;
    const keys = Object.keys(o);
    assert.deepEqual(keys.filter((k) => !all.has(k)), [], `README.md:${line}: fields the reconciler does not log`);
    assert.deepEqual([...base].filter((k) => !keys.includes(k)), [], `README.md:${line}: fields every pass line has`);
    assert.equal(Object.keys(o['ops'] as object).sort().join(','), opKinds, `README.md:${line}: ops by kind`);
  }
});
