// CLI for the real-kernel harness.
//   node dist/test/harness/cli.js check
//       prints the mode (uml | netns) and kernel, or the reason none can be used (exit 1)
//   node dist/test/harness/cli.js run [-v] [--mem MiB] [--cpu N] [--timeout S] -- <cmd...>
//       runs <cmd> in a real kernel with IPVS (a fresh netns / a UML guest), streams
//       its output and exits with its exit code (124 on timeout, 3 harness failure,
//       2 no kernel). -v prints the mode and boot time to stderr.
import { kernelAvailability } from './detect.js';
import { runInKernel } from './run.js';
import { KernelUnavailableError } from './types.js';

function usage(): number {
  console.error('usage: cli.js check | cli.js run [-v] [--mem MiB] [--cpu N] [--timeout S] -- <cmd...>');
  return 64;
}

function check(): number {
  const a = kernelAvailability();
  if (!a.ok) {
    console.log(`unavailable: ${a.reason}\nfix: ${a.fix}`);
    return 1;
  }
  if (a.mode === 'netns') {
    console.log(`netns: ${a.kernel} has IPVS; each run gets a fresh network namespace`);
  } else {
    console.log(`uml: ${a.kernel} (${a.umlBinary}, modules ${a.modulesDir})`);
    if (a.missingOptional.length > 0) console.log(`  optional modules absent: ${a.missingOptional.join(' ')}`);
    for (const w of a.warnings) console.log(`  warning: ${w}`);
  }
  return 0;
}

async function run(args: string[]): Promise<number> {
  const dd = args.indexOf('--');
  const flags = dd >= 0 ? args.slice(0, dd) : [];
  const argv = dd >= 0 ? args.slice(dd + 1) : args;
  if (argv.length === 0) return usage();
  let verbose = false;
  let memMb: number | undefined;
  let cpu: number | undefined;
  let timeoutMs: number | undefined;
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i];
    const num = (): number => {
      const v = Number(flags[++i]);
      if (!Number.isFinite(v)) throw new Error(`${f} needs a number`);
      return v;
    };
    if (f === '-v' || f === '--verbose') verbose = true;
    else if (f === '--mem') memMb = num();
    else if (f === '--cpu') cpu = num();
    else if (f === '--timeout') timeoutMs = num() * 1000;
    else return usage();
  }
  try {
    const r = await runInKernel({
      argv, memMb, cpu, timeoutMs,
      onOutput: (s, c) => void (s === 'stdout' ? process.stdout : process.stderr).write(c),
    });
    if (verbose) {
      console.error(`# ${r.mode}: ${r.kernel}; command started ${(r.bootMs / 1000).toFixed(2)} s after launch; total ${(r.wallMs / 1000).toFixed(2)} s; exit ${r.timedOut ? 'timeout' : r.code}`);
    }
    if (r.timedOut) {
      console.error(`cli: timed out; the kernel was killed`);
      return 124;
    }
    return r.code ?? (r.signal ? 128 : 1);
  } catch (e) {
    console.error(`cli: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof KernelUnavailableError ? 2 : 3;
  }
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'check') return check();
  if (cmd === 'run') return run(rest);
  return usage();
}

main().then((code) => {
  process.exitCode = code;
});
