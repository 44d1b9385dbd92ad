// Sysctls IPVS forwarding depends on: decided (pure), then set and verified
// through a thin file edge (`/proc/sys`, injectable for tests).
//
// Every key is per network namespace; l4lb sets the ones of the namespace it
// runs in (the node's). Equivalent to `sysctl -w KEY=VALUE` and `sysctl KEY`.
//
//   net.ipv4.vs.conntrack=1            IPVS keeps netfilter conntrack entries for
//                                      its connections, so iptables NAT sees them:
//                                      the hairpin MASQUERADE rule (hairpin.ts)
//                                      does nothing without it.
//   net.ipv4.vs.expire_nodest_conn=1   a packet for a connection whose real server
//                                      was deleted expires the entry at once (the
//                                      client gets a RST and reconnects to a live
//                                      backend) instead of being dropped until the
//                                      entry times out: UDP black-holes (item 4).
//   net.ipv4.vs.expire_quiescent_template=1
//                                      persistence templates of a weight-0
//                                      (draining) server expire, so new
//                                      connections of a persistent client move on.
//   net.ipv4.ip_forward=1              clients in other namespaces/containers, and
//                                      hairpin replies, are forwarded by this node.
//   net.ipv6.conf.all.forwarding=1     the same for IPv6 VIPs (only with `ipv6`):
//                                      without it replies to an IPv6 client outside
//                                      this namespace never reach IPVS's FORWARD
//                                      hook and the connection hangs (measured in
//                                      test/kernel/e2e-udp-ipv6.test.ts). Cost: the
//                                      kernel then ignores router advertisements on
//                                      interfaces with accept_ra=1, and a node
//                                      that takes its IPv6 default route from RAs
//                                      would lose it when it expires. So first:
//   net.ipv6.conf.<if>.accept_ra 1->2  on every interface (and `default`, for
//                                      links made later) that accepts RAs now:
//                                      2 means "accept RAs even when forwarding",
//                                      and behaves as 1 while forwarding is off.
//   net.ipv4.vs.conn_reuse_mode        by kernel version, see connReuseMode().

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';

/** One sysctl l4lb wants, and why. */
export interface SysctlWant {
  /** Dotted key, e.g. `net.ipv4.vs.conntrack`. */
  key: string;
  value: string;
  why: string;
}

/** What happened to one sysctl. */
export interface SysctlResult {
  key: string;
  wanted: string;
  /** The value read before writing; null when it could not be read. */
  before: string | null;
  /** The value read back after writing (or `before` when no write was needed); null when unreadable. */
  after: string | null;
  /** `after === wanted`. */
  ok: boolean;
  /** A write was made. */
  changed: boolean;
  why: string;
  /** Present when !ok: what failed, naming the key, with a hint. */
  error?: { errno: string; message: string };
}

export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
}

/** `6.1.0-13-amd64` -> 6.1.0; `5.4.0` -> 5.4.0; `4.18.0-553.el8_10.x86_64` -> 4.18.0; undefined when not a version. */
export function parseKernelVersion(release: string): KernelVersion | undefined {
  const m = /^\s*(\d+)\.(\d+)(?:\.(\d+))?/.exec(release);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
}

function atLeast(v: KernelVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/**
 * net.ipv4.vs.conn_reuse_mode for a kernel release (anchors, item 1).
 *
 * When a new connection reuses the source port of an IPVS connection entry
 * that still exists (TIME_WAIT after a short request: busy clients hit this
 * constantly), mode 1 reschedules it, mode 0 sends it to the old entry's
 * real server.
 *  - Kernels before 5.9: mode 1 with conntrack=1 (which hairpin needs) DROPS
 *    the reusing SYN so the old conntrack entry can expire; the client
 *    retransmits after 1 s: +1 s latency on a fraction of connections
 *    (k8s#70747). Mode 0 avoids it; its cost is that a reused port keeps
 *    going to the old server even when it is weight 0 (draining), so a drain
 *    may last until the drain timeout instead of ending at zero connections
 *    (k8s#81775, kr#544). A bounded drain beats a 1 s stall on live traffic:
 *    0, as kube-proxy does.
 *  - 5.9 and later ("ipvs: avoid drop first packet by reusing conntrack",
 *    k8s#93297): mode 1 no longer drops the SYN, so 1 (the kernel default)
 *    gives correct rescheduling with no stall. We set it explicitly so a 0
 *    left by an older tool is undone.
 * Distribution kernels that backported the fix to an older version number
 * can force a mode with the `connReuseMode` option.
 */
export function connReuseMode(release: string): { value: '0' | '1'; why: string } | undefined {
  const v = parseKernelVersion(release);
  if (v === undefined) return undefined;
  return atLeast(v, 5, 9)
    ? { value: '1', why: `kernel ${release} >= 5.9: reused ports are rescheduled without the 1 s SYN drop` }
    : { value: '0', why: `kernel ${release} < 5.9: mode 1 with conntrack drops reusing SYNs (+1 s, k8s#70747); 0 trades that for drains bounded by the drain timeout` };
}

export interface SysctlPlanOptions {
  /** `uname -r`. */
  kernelRelease: string;
  /** Force conn_reuse_mode (backported kernels); default by version. */
  connReuseMode?: 0 | 1;
  /** IPv6 VIPs are enabled: IPv6 forwarding too. Default false. */
  ipv6?: boolean;
  /** With `ipv6`: interfaces (and `default`) whose accept_ra is 1 now: raised to 2 before forwarding goes on. */
  acceptRaInterfaces?: readonly string[];
}

/** The sysctls l4lb wants on this kernel, in the order they are set. Pure. */
export function desiredSysctls(opts: SysctlPlanOptions): { wants: SysctlWant[]; notes: string[] } {
  const wants: SysctlWant[] = [
    { key: 'net.ipv4.vs.conntrack', value: '1', why: 'conntrack entries for IPVS connections: the hairpin MASQUERADE rule needs them' },
    { key: 'net.ipv4.vs.expire_nodest_conn', value: '1', why: 'connections to a deleted real server expire at once instead of black-holing' },
    { key: 'net.ipv4.vs.expire_quiescent_template', value: '1', why: 'persistence templates of a draining (weight 0) server expire' },
    { key: 'net.ipv4.ip_forward', value: '1', why: 'clients in other namespaces and hairpin replies are forwarded' },
  ];
  const notes: string[] = [];
  if (opts.ipv6 === true) {
    for (const name of opts.acceptRaInterfaces ?? []) {
      // A dotted name (VLAN `eth0.100`) cannot be a dotted sysctl key.
      if (name.includes('.')) notes.push(`IPv6 forwarding makes interfaces with accept_ra=1 ignore router advertisements; l4lb cannot address ${name} by a dotted key: if it takes routes from them, set /proc/sys/net/ipv6/conf/${name}/accept_ra to 2`);
      else wants.push({ key: `net.ipv6.conf.${name}.accept_ra`, value: '2', why: 'keeps accepting router advertisements once IPv6 forwarding is on (2 acts as 1 while it is off)' });
    }
    wants.push({ key: 'net.ipv6.conf.all.forwarding', value: '1', why: 'IPv6 VIPs: clients in other namespaces and hairpin replies are forwarded (router advertisements then need accept_ra=2)' });
  }
  if (opts.connReuseMode !== undefined) {
    wants.push({ key: 'net.ipv4.vs.conn_reuse_mode', value: String(opts.connReuseMode), why: 'forced by configuration' });
  } else {
    const mode = connReuseMode(opts.kernelRelease);
    if (mode) wants.push({ key: 'net.ipv4.vs.conn_reuse_mode', value: mode.value, why: mode.why });
    else notes.push(`kernel release ${JSON.stringify(opts.kernelRelease)} is not a version: net.ipv4.vs.conn_reuse_mode left as it is (set connReuseMode to choose)`);
  }
  return { wants, notes };
}

/** The file edge: read and write one sysctl, and the kernel release. Tests inject a directory or a fake. */
export interface SysctlIo {
  read(key: string): string;
  write(key: string, value: string): void;
  kernelRelease(): string;
  /** Names under a sysctl directory (`net.ipv6.conf` -> all, default, lo, eth0...); [] when absent. */
  list?(dir: string): string[];
}

/** Interfaces (and `default`) whose accept_ra is 1: IPv6 forwarding would make them ignore router advertisements. */
export function acceptRaInterfaces(io: SysctlIo): string[] {
  const out: string[] = [];
  for (const name of io.list?.('net.ipv6.conf') ?? []) {
    if (name === 'all') continue;
    // A dotted name (VLAN `eth0.100`) cannot be read by a dotted key: listed for a note.
    if (name.includes('.')) {
      out.push(name);
      continue;
    }
    try {
      if (io.read(`net.ipv6.conf.${name}.accept_ra`) === '1') out.push(name);
    } catch {
      // Gone meanwhile, or unreadable: nothing to protect.
    }
  }
  return out.sort();
}

/** Sysctls as files under `root` (default `/proc/sys`), e.g. `<root>/net/ipv4/vs/conntrack`. */
export function procSysctl(root = '/proc/sys'): SysctlIo {
  const path = (key: string): string => join(root, ...key.split('.'));
  return {
    read: (key) => readFileSync(path(key), 'utf8').trim(),
    write: (key, value) => writeFileSync(path(key), `${value}\n`),
    list: (dir) => {
      try {
        return readdirSync(path(dir));
      } catch {
        return [];
      }
    },
    kernelRelease: () => {
      try {
        return readFileSync(join(root, 'kernel', 'osrelease'), 'utf8').trim();
      } catch {
        return osRelease(); // uname(2): same answer, for roots without kernel/
      }
    },
  };
}

function errCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : 'EIO';
}

/** The sentence for a failed read or write, naming the key and what to do. */
export function explainSysctlError(key: string, op: 'read' | 'write', e: unknown): { errno: string; message: string } {
  const errno = errCode(e);
  const fix = `set it on the node yourself (sysctl -w ${key}=...) or run l4lb privileged`;
  let why: string;
  switch (errno) {
    case 'ENOENT':
      why = key.startsWith('net.ipv4.vs.')
        ? 'no such sysctl: the ip_vs module is not loaded (it appears once IPVS is used, or `modprobe ip_vs`)'
        : 'no such sysctl in this kernel';
      break;
    case 'EROFS':
      why = `/proc/sys is read-only here (a container without privileges?): ${fix}`;
      break;
    case 'EACCES':
    case 'EPERM':
      why = `permission denied (l4lb needs root or CAP_NET_ADMIN in the node's network namespace): ${fix}`;
      break;
    default:
      why = e instanceof Error ? e.message : String(e);
  }
  return { errno, message: `${op} ${key}: ${errno}: ${why}` };
}

/**
 * Sets each wanted sysctl that differs and reads it back. Never throws for
 * a key: an unreadable or unwritable key is reported with its error, and the
 * others still run. With `verifyOnly`, nothing is written (report only).
 */
export function applySysctls(wants: readonly SysctlWant[], io: SysctlIo, opts: { verifyOnly?: boolean } = {}): SysctlResult[] {
  return wants.map((w) => {
    const r: SysctlResult = { key: w.key, wanted: w.value, before: null, after: null, ok: false, changed: false, why: w.why };
    try {
      r.before = io.read(w.key);
    } catch (e) {
      r.error = explainSysctlError(w.key, 'read', e);
      return r;
    }
    r.after = r.before;
    if (r.before !== w.value && !opts.verifyOnly) {
      try {
        io.write(w.key, w.value);
        r.changed = true;
      } catch (e) {
        r.error = explainSysctlError(w.key, 'write', e);
        return r;
      }
      try {
        r.after = io.read(w.key);
      } catch (e) {
        r.after = null;
        r.error = explainSysctlError(w.key, 'read', e);
        return r;
      }
    }
    r.ok = r.after === w.value;
    if (!r.ok && r.error === undefined) {
      r.error = {
        errno: 'EINVAL',
        message: opts.verifyOnly
          ? `${w.key} is ${r.after}, want ${w.value}`
          : `${w.key} reads ${r.after} after writing ${w.value} (the kernel refused or clamped the value)`,
      };
    }
    return r;
  });
}
