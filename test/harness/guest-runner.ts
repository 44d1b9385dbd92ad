// Runs INSIDE the kernel (UML guest, or the host's fresh netns): executes each
// kernel test file with `node --test` in its own fresh network namespace,
// because IPVS state is per netns and must not leak between files. Started by
// suite.ts as `node guest-runner.js <plan.json>`; writes each file's TAP and
// stderr plus results.json into the plan's results dir (host-visible), and
// prints one `@@l4lb-file {json}` line per finished file so the host can
// report progress live.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshNetnsArgv } from './netns.js';
import { killGroup } from './proc.js';
import { FILE_MARKER, type GuestFileResult, type GuestPlan, type GuestResults } from './guest-protocol.js';

function run(argv: readonly string[], stdoutFd: number | 'ignore', stderrFd: number | 'ignore', timeoutMs: number): Promise<{ code: number | null; signal: string | null; timedOut: boolean; ms: number }> {
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', stdoutFd, stderrFd], detached: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!);
  }, timeoutMs);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // Servers a test forgot to stop die with its group, not in the next file.
      killGroup(child.pid!);
      resolve({ code, signal, timedOut, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
  });
}

async function median(argv: readonly string[], n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push((await run(argv, 'ignore', 'ignore', 30_000)).ms);
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

async function main(): Promise<void> {
  const planPath = process.argv[2];
  if (!planPath) throw new Error('usage: guest-runner.js <plan.json>');
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as GuestPlan;
  const netnsMs = await median(freshNetnsArgv(['true']), 3);
  const plainMs = await median(['/bin/sh', '-c', 'exec "$@"', 'sh', 'true'], 3);
  const files: GuestFileResult[] = [];
  process.env.L4LB_KERNEL_NETNS = 'fresh';
  for (const [index, file] of plan.files.entries()) {
    const tapPath = join(plan.resultsDir, `${index}.tap`);
    const errPath = join(plan.resultsDir, `${index}.err`);
    const out = openSync(tapPath, 'w');
    const err = openSync(errPath, 'w');
    let r;
    try {
      r = await run(freshNetnsArgv([process.execPath, '--test', '--test-reporter=tap', file]), out, err, plan.fileTimeoutMs);
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const res: GuestFileResult = { index, file, ...r, tapPath, errPath };
    files.push(res);
    process.stdout.write(`${FILE_MARKER}${JSON.stringify(res)}\n`);
  }
  const results: GuestResults = { netnsMs, plainMs, files };
  writeFileSync(join(plan.resultsDir, 'results.json'), JSON.stringify(results, null, 2));
}

main().catch((e: unknown) => {
  process.stderr.write(`guest-runner: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
