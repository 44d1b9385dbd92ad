// The contract between suite.ts (host side) and guest-runner.ts (inside the
// kernel): the plan it is given, and what it writes back. Kept apart so the
// host can import it without running the guest runner's main().

export interface GuestPlan {
  files: string[];
  resultsDir: string;
  fileTimeoutMs: number;
}

export interface GuestFileResult {
  index: number;
  file: string;
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  ms: number;
  tapPath: string;
  errPath: string;
}

export interface GuestResults {
  /** Median time to run `true` in a fresh netns (unshare + lo up + tmpfs) ... */
  netnsMs: number;
  /** ... and without one: the difference is the per-file netns overhead. */
  plainMs: number;
  files: GuestFileResult[];
}

export const FILE_MARKER = '@@l4lb-file ';
