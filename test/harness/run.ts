// runInKernel: run a command against a real kernel with IPVS, whichever way
// this machine offers (host kernel in a fresh netns, or a UML guest).
import { kernelAvailability } from './detect.js';
import { runInHostNetns } from './netns.js';
import { runInUml } from './uml.js';
import { KernelUnavailableError, type RunInKernelOptions, type RunInKernelResult } from './types.js';

/**
 * Run `argv` (or a sh `script`) in a real kernel and collect its output.
 * Throws KernelUnavailableError when no kernel with IPVS can be used, and
 * KernelHarnessError when the guest failed before finishing the command.
 * A timeout is not thrown: the result says `timedOut: true`.
 */
export async function runInKernel(opts: RunInKernelOptions): Promise<RunInKernelResult> {
  if ((opts.argv === undefined) === (opts.script === undefined)) {
    throw new TypeError('runInKernel: give exactly one of argv or script');
  }
  if (opts.argv !== undefined && opts.argv.length === 0) throw new TypeError('runInKernel: argv is empty');
  const avail = kernelAvailability();
  if (!avail.ok) throw new KernelUnavailableError(avail.reason, avail.fix);
  if (avail.mode === 'uml') return runInUml(avail, opts.argv, opts.script, opts);
  const argv = opts.argv ?? ['/bin/sh', '-c', opts.script!];
  return runInHostNetns(avail, argv, opts);
}
