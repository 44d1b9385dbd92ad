// `make demo`: boots a real kernel with IPVS (a fresh network namespace when
// the host kernel has IPVS, else user-mode Linux) and runs test/demo/guest.ts
// in a fresh network namespace inside it. Everything lives and dies inside.

import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { kernelAvailability, runInKernel } from '../harness/index.js';

async function main(): Promise<number> {
  const t0 = performance.now();
  const avail = kernelAvailability();
  if (!avail.ok) {
    process.stderr.write(`demo: no kernel with IPVS can be used here: ${avail.reason}\n  fix: ${avail.fix}\n`);
    return 1;
  }
  process.stdout.write(
    avail.mode === 'uml'
      ? `l4lb demo: booting ${avail.kernel} (a real kernel with IPVS, in user space; about 2 s)...\n`
      : `l4lb demo: using the host kernel (${avail.kernel}) in a fresh network namespace...\n`,
  );
  const guest = fileURLToPath(new URL('./guest.js', import.meta.url));
  const r = await runInKernel({
    script: `exec unshare -n sh -c 'ip link set lo up && exec "$0" "$1"' ${JSON.stringify(process.execPath)} ${JSON.stringify(guest)}`,
    timeoutMs: 120_000,
    onOutput: (stream, chunk) => (stream === 'stdout' ? process.stdout : process.stderr).write(chunk),
  });
  if (r.timedOut) {
    process.stderr.write('demo: FAILED: timed out after 120 s\n');
    return 1;
  }
  process.stdout.write(
    `\nl4lb demo: ${r.code === 0 ? 'done' : 'FAILED'} in ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
      `(kernel boot ${(r.bootMs / 1000).toFixed(1)} s); nothing is left behind: the kernel and its namespaces are gone.\n`,
  );
  return r.code ?? 1;
}

process.exitCode = await main();
