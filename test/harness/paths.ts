// Where the harness keeps its run directories, and why there.
//
// A UML guest sees the host's `/` through hostfs, except the directories the
// guest mounts its own tmpfs on (/tmp, /run, /dev/shm). Anything the guest must
// hand back to the host (exit code, output) therefore goes to a run directory
// under the repository (`.run/`, git-ignored), never under /tmp. The kernel
// command line cannot carry spaces, so the path must not contain any.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

/** Guest-private mount points: host paths below them are hidden inside UML. */
export const GUEST_PRIVATE_DIRS: readonly string[] = ['/tmp', '/run', '/dev', '/proc', '/sys'];

let cachedRoot: string | undefined;

/** The repository root: the nearest ancestor of this file holding l4lb's package.json. */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name;
        if (name === 'l4lb') return (cachedRoot = dir);
      } catch {
        // Not valid JSON: keep walking up.
      }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  // Fall back to the working directory (e.g. when the compiled file was copied elsewhere).
  return (cachedRoot = process.cwd());
}

/** Base directory for run dirs: `$L4LB_RUN_DIR` or `<repo>/.run`. */
export function runBase(): string {
  return resolve(process.env.L4LB_RUN_DIR ?? join(repoRoot(), '.run'));
}

/** True when `p` is `dir` or below it. */
export function isUnder(p: string, dir: string): boolean {
  const abs = resolve(p);
  return abs === dir || abs.startsWith(dir + '/');
}

/**
 * Why `p` cannot be shared with a UML guest, or undefined when it can.
 * `hostTmp`: the guest keeps the host's /tmp instead of its own tmpfs (done
 * when the checkout itself lives under /tmp, as on some CI runners).
 */
export function unshareablePathReason(p: string, hostTmp = false): string | undefined {
  if (/\s/.test(p)) return `path "${p}" contains whitespace, which the UML kernel command line cannot carry`;
  const hidden = GUEST_PRIVATE_DIRS.filter((d) => !(hostTmp && d === '/tmp'));
  if (hidden.some((d) => isUnder(p, d))) return `path "${p}" is under a directory the guest mounts its own filesystem on (${hidden.join(' ')})`;
  return undefined;
}

/** Create a fresh, uniquely named run directory `<base>/<prefix>-<id>`. */
export function makeRunDir(prefix: string): { dir: string; id: string } {
  const id = `${process.pid.toString(36)}${randomBytes(4).toString('hex')}`;
  const dir = join(runBase(), `${prefix}-${id}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return { dir, id };
}

/** Remove a run dir unless L4LB_KEEP_RUN=1 asks to keep it for debugging. */
export function removeRunDir(dir: string): void {
  if (process.env.L4LB_KEEP_RUN === '1') return;
  rmSync(dir, { recursive: true, force: true });
}
