// Fresh network namespaces: how a command is wrapped so it starts in an empty
// netns with `lo` up and a private /run/netns, and the host-IPVS runner.
//
// Why lo up: in a new netns lo is down, so there is no local routing table
// and every IPVS NEW_DEST fails with EINVAL while services succeed.
// Why a mount namespace with its own /run/netns: `ip netns add` names made by
// one test file must not collide with or outlive another file's; they vanish
// with the mount namespace.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { NetnsAvailability } from './detect.js';
import { killGroup, saneEnv, trackGroup, which } from './proc.js';
import type { OutputStream, RunInKernelOptions, RunInKernelResult } from './types.js';

/** sh snippet run inside the new namespaces before the command. */
const NETNS_SETUP = 'ip link set lo up && mkdir -p /run/netns && mount -t tmpfs -o mode=0755 l4lb-netns /run/netns';

/**
 * argv that runs `argv` in a fresh netns + mount ns. When `markerFd` is given,
 * one byte is written to that fd once setup is done (to time the setup).
 */
export function freshNetnsArgv(argv: readonly string[], markerFd?: number): string[] {
  const marker = markerFd === undefined ? '' : ` && printf x >&${markerFd} && exec ${markerFd}>&-`;
  return [
    which('unshare') ?? 'unshare', '--net', '--mount', '--propagation', 'private', '--',
    '/bin/sh', '-c', `${NETNS_SETUP}${marker} || { echo "l4lb harness: fresh netns setup failed" >&2; exit 126; }; exec "$@"`,
    'l4lb-netns', ...argv,
  ];
}

/** Run on the host kernel (which has IPVS) inside a fresh netns. */
export function runInHostNetns(avail: NetnsAvailability, argv: readonly string[], opts: RunInKernelOptions): Promise<RunInKernelResult> {
  const started = Date.now();
  const full = freshNetnsArgv(argv, 3);
  const env = saneEnv([], { L4LB_KERNEL_HARNESS: 'netns', L4LB_KERNEL: avail.kernel, L4LB_IPTABLES: 'iptables', ...opts.env });
  const child = spawn(full[0]!, full.slice(1), {
    cwd: opts.cwd ?? process.cwd(),
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true, // own process group: a timeout kills the command and everything it started
  });
  const untrack = trackGroup(child.pid!);
  let bootMs = -1;
  let timedOut = false;
  const out: Record<OutputStream, string> = { stdout: '', stderr: '' };
  for (const stream of ['stdout', 'stderr'] as const) {
    const dec = new StringDecoder('utf8');
    child[stream]!.on('data', (b: Buffer) => {
      const s = dec.write(b);
      out[stream] += s;
      if (s && opts.onOutput) opts.onOutput(stream, s);
    });
  }
  (child.stdio[3] as NodeJS.ReadableStream).once('data', () => {
    bootMs = Date.now() - started;
  });
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!);
  }, opts.timeoutMs ?? 300_000);
  return new Promise((resolvePromise, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      untrack();
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // Anything the command left running in its group goes too.
      killGroup(child.pid!);
      untrack();
      resolvePromise({
        code: timedOut ? null : code, signal: timedOut ? null : signal, timedOut,
        stdout: out.stdout, stderr: out.stderr,
        bootMs: Math.max(bootMs, 0), wallMs: Date.now() - started, mode: 'netns', kernel: avail.kernel,
      });
    });
  });
}
