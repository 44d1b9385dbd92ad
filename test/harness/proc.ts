// Small process helpers shared by the runners: PATH lookup, a sane child
// environment, and killing whole process groups (a UML guest is many host
// processes; a test file may leave servers behind), also on Ctrl-C.
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';

/** Directories searched for tools even when the caller's PATH lacks sbin. */
const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable, searching PATH and the system dirs. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SYSTEM_PATH];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * The environment a command gets inside the kernel: a predictable PATH (with
 * the node binary running us and sbin dirs for ip/ipvsadm), HOME, CI and
 * L4LB_* passthrough, NODE_OPTIONS dropped (a debugger/loader flag from the
 * host would make every node inside the guest misbehave), then the caller's
 * overrides; `undefined` deletes a key.
 */
export function saneEnv(extraPathDirs: readonly string[], overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const pathDirs = [...extraPathDirs, dirname(process.execPath), ...SYSTEM_PATH];
  const env: Record<string, string> = {
    PATH: [...new Set(pathDirs)].join(':'),
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
  };
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (k === 'CI' || k === 'NO_COLOR' || k === 'FORCE_COLOR' || k.startsWith('L4LB_'))) env[k] = v;
  }
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  delete env.NODE_OPTIONS;
  if (overrides.NODE_OPTIONS !== undefined) env.NODE_OPTIONS = overrides.NODE_OPTIONS;
  return env;
}

/** Quote a string for POSIX sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** SIGKILL a process group; ignore "already gone". */
export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

// Process groups we started and must not leak if the user hits Ctrl-C.
const liveGroups = new Set<number>();
let handlersInstalled = false;

function onSignal(sig: NodeJS.Signals): void {
  for (const g of liveGroups) killGroup(g);
  liveGroups.clear();
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  handlersInstalled = false;
  // Re-raise so the exit status says we were interrupted.
  process.kill(process.pid, sig);
}

/** Track a detached child's group so a signal to us kills it too. */
export function trackGroup(pgid: number): () => void {
  liveGroups.add(pgid);
  if (!handlersInstalled) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('exit', killAllTracked);
    handlersInstalled = true;
  }
  return () => {
    liveGroups.delete(pgid);
    if (liveGroups.size === 0 && handlersInstalled) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('exit', killAllTracked);
      handlersInstalled = false;
    }
  };
}

function killAllTracked(): void {
  for (const g of liveGroups) killGroup(g);
}
