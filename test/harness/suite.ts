// The kernel test suite, host side: find compiled kernel test files, boot ONE
// kernel for all of them (UML), run them there through guest-runner.js (each
// file in a fresh netns), and turn their TAP into counts and failure reports.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { kernelAvailability, type KernelMode } from './detect.js';
import { FILE_MARKER, type GuestFileResult, type GuestPlan, type GuestResults } from './guest-protocol.js';
import { makeRunDir, removeRunDir, repoRoot } from './paths.js';
import { runInKernel } from './run.js';
import { countTopLevel, parseTapSummary, tapFailures, type TapCounts } from './tap.js';

export interface SuiteOptions {
  /** Compiled test files; default: dist/test/kernel/**\/*.test.js whose .ts source still exists. */
  files?: string[];
  /** Per file, inside the kernel (default $L4LB_KERNEL_FILE_TIMEOUT_MS or 180 s: UML is slow). */
  fileTimeoutMs?: number;
  /** Progress and report lines, as they happen. */
  onLine?: (line: string) => void;
}

export interface FileResult {
  file: string;
  /** The runner's summary; undefined when the file was cut short (timeout, crash). */
  counts: TapCounts | undefined;
  passed: number;
  failed: number;
  skipped: number;
  code: number | null;
  timedOut: boolean;
  ms: number;
  /** Full text of each failure (TAP not-ok blocks; everything printed when the file was cut short). */
  failures: string[];
}

export interface SuiteResult {
  /** False when no kernel could be used, or the harness itself failed (see reason/fix). */
  ran: boolean;
  /**
   * True when a kernel WAS available but the suite could not run on it (guest
   * crashed, no compiled test files): always a failure, never a skip.
   */
  broken: boolean;
  reason?: string;
  fix?: string;
  mode?: KernelMode;
  kernel?: string;
  /** Launch to the guest runner starting (UML boot + module load). */
  bootMs: number;
  wallMs: number;
  /** Extra cost of a fresh netns per file (unshare + lo up + tmpfs), median. */
  netnsOverheadMs: number;
  files: FileResult[];
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
}

/** Compiled kernel test files whose TypeScript source still exists (dist/ keeps stale outputs). */
export function discoverKernelTests(root = repoRoot()): string[] {
  const base = join(root, 'dist', 'test', 'kernel');
  const found: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.js')) {
        const src = join(root, relative(join(root, 'dist'), p)).replace(/\.js$/, '.ts');
        if (existsSync(src)) found.push(p);
      }
    }
  };
  walk(base);
  return found.sort();
}

function fileResult(g: GuestFileResult, root: string): FileResult {
  const tap = existsSync(g.tapPath) ? readFileSync(g.tapPath, 'utf8') : '';
  const err = existsSync(g.errPath) ? readFileSync(g.errPath, 'utf8') : '';
  const summary = parseTapSummary(tap);
  let why: string | undefined;
  if (g.timedOut) why = `file timed out after ${(g.ms / 1000).toFixed(1)} s and was killed`;
  else if (!summary) why = `file produced no TAP summary (exit ${g.code ?? g.signal})`;
  else if (g.code !== 0 && summary.fail + summary.cancelled === 0) why = `node --test exited ${g.code ?? g.signal} with no failing test`;
  // Output cut short: count what finished, plus one failure for the file itself.
  const counts = summary ?? countTopLevel(tap);
  let failed = counts.fail + counts.cancelled;
  let failures: string[];
  if (why !== undefined) {
    failed += 1;
    // Show everything it printed (it contains any not-ok blocks too).
    failures = [`${why}\n--- stdout (TAP) ---\n${tap.trimEnd()}\n--- stderr ---\n${err.trimEnd()}`];
  } else {
    failures = tapFailures(tap);
    if (failed > 0 && err.trim()) failures.push(`--- stderr ---\n${err.trimEnd()}`);
  }
  return {
    file: relative(root, g.file), counts: summary,
    passed: counts.pass, failed, skipped: counts.skipped + counts.todo,
    code: g.code, timedOut: g.timedOut, ms: g.ms, failures,
  };
}

function describeFile(f: FileResult): string {
  const status = f.failed > 0 ? 'FAIL' : 'ok  ';
  return `kernel: ${status} ${f.file}: ${f.passed} passed, ${f.failed} failed, ${f.skipped} skipped (${(f.ms / 1000).toFixed(1)} s)`;
}

export async function runKernelSuite(opts: SuiteOptions = {}): Promise<SuiteResult> {
  const say = opts.onLine ?? ((l: string) => process.stdout.write(l + '\n'));
  const root = repoRoot();
  const files = (opts.files && opts.files.length > 0 ? opts.files.map((f) => resolve(f)) : discoverKernelTests(root));
  const empty = { bootMs: 0, wallMs: 0, netnsOverheadMs: 0, files: [], tests: 0, passed: 0, failed: 0, skipped: 0 };
  const avail = kernelAvailability();
  if (!avail.ok) return { ran: false, broken: false, reason: avail.reason, fix: avail.fix, ...empty };
  if (files.length === 0) {
    return { ran: false, broken: true, reason: 'no kernel test files found (dist/test/kernel/**/*.test.js): did the build run?', fix: 'run `make build`', mode: avail.mode, kernel: avail.kernel, ...empty };
  }
  if (avail.mode === 'uml') {
    for (const w of avail.warnings) say(`kernel: warning: ${w}`);
    if (avail.missingOptional.length > 0) say(`kernel: note: optional modules absent from this UML build: ${avail.missingOptional.join(' ')}`);
  }
  const fileTimeoutMs = opts.fileTimeoutMs ?? Number(process.env.L4LB_KERNEL_FILE_TIMEOUT_MS ?? 180_000);
  const { dir } = makeRunDir('suite');
  const plan: GuestPlan = { files, resultsDir: dir, fileTimeoutMs };
  const planPath = join(dir, 'plan.json');
  writeFileSync(planPath, JSON.stringify(plan));
  say(`kernel: running ${files.length} file(s) in ${avail.kernel} (${avail.mode === 'uml' ? 'one UML guest' : 'host kernel'}, fresh netns per file)`);

  const results: FileResult[] = [];
  let pending = '';
  const onStdout = (chunk: string): void => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith(FILE_MARKER)) {
        const f = fileResult(JSON.parse(line.slice(FILE_MARKER.length)) as GuestFileResult, root);
        results.push(f);
        say(describeFile(f));
        for (const failure of f.failures) say(failure.replace(/^/gm, '  | '));
      } else if (line.trim()) {
        say(`kernel: guest: ${line}`);
      }
    }
  };
  let stderr = '';
  let run;
  try {
    run = await runInKernel({
      argv: [process.execPath, join(root, 'dist', 'test', 'harness', 'guest-runner.js'), planPath],
      cwd: root,
      timeoutMs: 120_000 + files.length * (fileTimeoutMs + 10_000),
      onOutput: (s, c) => (s === 'stdout' ? onStdout(c) : (stderr += c)),
    });
  } catch (e) {
    removeRunDir(dir);
    return { ran: false, broken: true, reason: `the kernel harness failed: ${e instanceof Error ? e.message : String(e)}`, fix: 'see the message above (the guest\'s run dir is kept for a post-mortem; delete it when done)', mode: avail.mode, kernel: avail.kernel, ...empty };
  }
  onStdout('\n');
  // A guest-runner crash or timeout loses files: they count as failures, loudly.
  const resultsPath = join(dir, 'results.json');
  const guest = existsSync(resultsPath) ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as GuestResults) : undefined;
  const done = new Set(results.map((r) => resolve(root, r.file)));
  for (const f of files.filter((x) => !done.has(x))) {
    const msg = run.timedOut ? 'the whole suite timed out before this file finished' : `the guest runner stopped before this file (exit ${run.code})`;
    const r: FileResult = { file: relative(root, f), counts: undefined, passed: 0, failed: 1, skipped: 0, code: null, timedOut: run.timedOut, ms: 0, failures: [`${msg}\n--- guest stderr ---\n${stderr.trimEnd()}`] };
    results.push(r);
    say(describeFile(r));
    for (const failure of r.failures) say(failure.replace(/^/gm, '  | '));
  }
  if (guest === undefined || run.code !== 0) {
    if (stderr.trim()) say(`kernel: guest runner stderr:\n${stderr.trimEnd()}`);
  }
  removeRunDir(dir);
  const sum = (k: 'passed' | 'failed' | 'skipped'): number => results.reduce((a, r) => a + r[k], 0);
  const passed = sum('passed');
  const failed = sum('failed');
  const skipped = sum('skipped');
  return {
    ran: true, broken: false, mode: avail.mode, kernel: avail.kernel, bootMs: run.bootMs, wallMs: run.wallMs,
    netnsOverheadMs: guest ? Math.max(0, guest.netnsMs - guest.plainMs) : 0,
    files: results, tests: passed + failed + skipped, passed, failed, skipped,
  };
}
