// Public types of the real-kernel harness (see run.ts for runInKernel).
import type { KernelMode } from './detect.js';

export type OutputStream = 'stdout' | 'stderr';

export interface RunInKernelOptions {
  /** Command and arguments (exec'd, no shell). Give exactly one of argv or script. */
  argv?: readonly string[];
  /** A POSIX sh script body, run with /bin/sh. */
  script?: string;
  /** Working directory (same path inside the guest: hostfs maps the host's /). Default: process.cwd(). */
  cwd?: string;
  /** Added to the sane base env (PATH, HOME, CI, L4LB_*); `undefined` removes a key. */
  env?: Record<string, string | undefined>;
  /** Whole run including the boot; on expiry the guest's process group is killed. Default 300 s. */
  timeoutMs?: number;
  /** Called with output as it arrives (UML: polled from the run dir every 100 ms). */
  onOutput?: (stream: OutputStream, chunk: string) => void;
  /** UML guest memory in MiB (default $L4LB_UML_MEM_MB or 1536). */
  memMb?: number;
  /** Host CPU to pin the UML guest to (default $L4LB_UML_CPU or one of the allowed CPUs). */
  cpu?: number;
}

export interface RunInKernelResult {
  /** Exit status of the command; null when it timed out (or, in netns mode, died by a signal). */
  code: number | null;
  /** Netns mode only: the signal that killed the command. */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Launch to the command starting (UML boot + module load; netns setup). */
  bootMs: number;
  /** Launch to the kernel/guest being gone. */
  wallMs: number;
  mode: KernelMode;
  /** e.g. "user-mode Linux 6.1.176" or "host kernel 6.8.0". */
  kernel: string;
}

/** Thrown when no real kernel can be used (reason/fix say why and what to do). */
export class KernelUnavailableError extends Error {
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`no kernel with IPVS available: ${reason} (fix: ${fix})`);
    this.name = 'KernelUnavailableError';
  }
}

/** Thrown when the kernel was there but the harness failed (e.g. the guest never ran the command). */
export class KernelHarnessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelHarnessError';
  }
}
