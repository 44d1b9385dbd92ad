// `make demo`: boots a real kernel with IPVS (a fresh network namespace when
// the host kernel has IPVS, else user-mode Linux: test/harness decides) and
// runs test/demo/guest.ts in a fresh network namespace inside it: Marathon
// (emulated) with two apps, `l4lb run`, DNS, real traffic, the CLI, a task
// killed and drained. Everything lives and dies inside; the exit code is the
// guest's (0 only if every step did what it said).

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { kernelAvailability, runInKernel } from '../harness/index.js';

/** The whole demo, boot included, must end well before this. */
const TIMEOUT_MS = 120_000;

async function main(): Promise<number> {
  const t0 = performance.now();
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  const avail = kernelAvailability();
  if (!avail.ok) {
    process.stderr.write(`demo: FAILED: no kernel with IPVS can be used here: ${avail.reason}\n  fix: ${avail.fix}\n`);
    return 1;
  }
  process.stdout.write(
    avail.mode === 'uml'
      ? `l4lb demo: this host's kernel has no IPVS: booting ${avail.kernel} (a real kernel with IPVS, in user space)...\n`
      : `l4lb demo: using the host kernel (${avail.kernel}) in a fresh network namespace...\n`,
  );
  const guest = fileURLToPath(new URL('./guest.js', import.meta.url));
  let first = true;
  const r = await runInKernel({
    // A network namespace of its own inside the kernel, with lo up (IPVS needs a local table).
    script: `exec unshare -n sh -c 'ip link set lo up && exec "$0" "$1"' ${JSON.stringify(process.execPath)} ${JSON.stringify(guest)}`,
    timeoutMs: TIMEOUT_MS,
    onOutput: (stream, chunk) => {
      if (first) {
        // The guest's first words: the kernel is up and node runs inside it.
        first = false;
        process.stdout.write(`l4lb demo: ${avail.mode === 'uml' ? 'kernel booted, ' : ''}demo running inside after ${elapsed()}\n\n`);
      }
      (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
    },
  });
  if (r.timedOut) {
    process.stdout.write(`\nl4lb demo: FAILED: not finished after ${TIMEOUT_MS / 1000} s; the kernel and everything in it were killed.\n`);
    return 1;
  }
  process.stdout.write(
    `\nl4lb demo: ${r.code === 0 ? 'done' : 'FAILED'} in ${elapsed()} ` +
      `(${r.mode === 'uml' ? 'kernel boot' : 'namespace setup'} ${(r.bootMs / 1000).toFixed(1)} s); nothing is left behind: the ${r.mode === 'uml' ? 'kernel' : 'network namespace'} and everything in it are gone.\n`,
  );
  return r.code ?? 1;
}

process.exitCode = await main().catch((e: Error) => {
  // e.g. KernelHarnessError: the guest never ran the demo (it says where its logs are).
  process.stdout.write(`\nl4lb demo: FAILED: ${e.message}\n`);
  return 1;
});
