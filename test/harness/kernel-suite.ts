// CLI: `node dist/test/harness/kernel-suite.js [files...]`: run the kernel test
// suite in a real kernel, print failures in full and a summary, write the
// counts to .run/kernel-summary.json for scripts/test.sh's grand total.
// Exit: 0 all passed (or a loud skip when no kernel and not CI); 1 failures,
// or a kernel was there but the harness broke; 2 no kernel under CI=true
// (CI must never silently skip the kernel suite).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBase } from './paths.js';
import { runKernelSuite } from './suite.js';

const isCI = (v: string | undefined): boolean => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

function banner(lines: string[]): string {
  const bar = '!'.repeat(78);
  return [bar, ...lines.map((l) => `!!! ${l}`), bar].join('\n');
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const r = await runKernelSuite({ files: process.argv.slice(2) });
  const ci = isCI(process.env.CI);
  mkdirSync(runBase(), { recursive: true });
  const where = r.mode === 'uml' ? `${r.kernel}, boot ${(r.bootMs / 1000).toFixed(1)} s` : `${r.kernel}, fresh netns per file`;
  const line = r.ran
    ? `kernel: ${r.passed + r.failed} tests ran inside a real kernel (${where}): ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}`
    : `kernel: 0 tests ran inside a real kernel (NOT RUN: ${(r.reason ?? '').split('\n')[0]})`;
  const summary = {
    line, ran: r.ran, broken: r.broken, reason: r.reason ?? null, mode: r.mode ?? null, kernel: r.kernel ?? null,
    tests: r.tests, passed: r.passed, failed: r.failed, skipped: r.skipped,
    bootMs: r.bootMs, wallMs: Date.now() - t0, netnsOverheadMs: r.netnsOverheadMs,
    files: r.files.map((f) => ({ file: f.file, passed: f.passed, failed: f.failed, skipped: f.skipped, ms: Math.round(f.ms) })),
  };
  writeFileSync(join(runBase(), 'kernel-summary.json'), JSON.stringify(summary, null, 2) + '\n');
  if (r.broken) {
    console.log(banner([`KERNEL SUITE BROKEN: ${r.reason}`, `fix: ${r.fix}`]));
    console.log(line);
    return 1;
  }
  if (!r.ran) {
    console.log(banner([
      `KERNEL TESTS DID NOT RUN: ${r.reason}`,
      `fix: ${r.fix}`,
      ci ? 'CI is set: this is a FAILURE (the kernel suite must run in CI).' : 'Not CI: skipping them. Nothing about the IPVS kernel path has been verified.',
    ]));
    console.log(line);
    return ci ? 2 : 0;
  }
  console.log(
    `kernel: ${r.files.length} file(s), fresh netns per file (+${Math.round(r.netnsOverheadMs)} ms each), suite wall ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  console.log(line);
  return r.failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`kernel-suite: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
