// Which real kernel can the kernel tests use on this machine, or exactly why none.
//
// Order: the host kernel itself when it has IPVS and we may create network
// namespaces (fastest: a fresh netns per file, no guest); otherwise a
// User-mode Linux guest (Debian's user-mode-linux ships IPVS as modules);
// otherwise nothing, with the reason and the fix. L4LB_KERNEL_MODE=uml|netns
// forces one mode (e.g. to exercise UML on a host that has IPVS).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { join } from 'node:path';
import { which } from './proc.js';

export type KernelMode = 'netns' | 'uml';

export interface NetnsAvailability {
  ok: true;
  mode: 'netns';
  /** Human-readable kernel name for summaries, e.g. "host kernel 6.8.0". */
  kernel: string;
}

export interface UmlAvailability {
  ok: true;
  mode: 'uml';
  kernel: string;
  /** Kernel version of the UML modules dir, e.g. "6.1.176". */
  version: string;
  umlBinary: string;
  modulesDir: string;
  /** Modules that exist and are loaded at boot with one `modprobe -a`. */
  modules: string[];
  /** Optional modules absent from this UML build (boot goes on without them). */
  missingOptional: string[];
  /** Non-fatal problems, e.g. no taskset (guest runs unpinned, 2-3x slower). */
  warnings: string[];
}

export interface Unavailable {
  ok: false;
  /** Exactly why no kernel can be used. */
  reason: string;
  /** What to do about it. */
  fix: string;
}

export type KernelAvailability = NetnsAvailability | UmlAvailability | Unavailable;

/** Modules without which the kernel suite is pointless. */
export const REQUIRED_MODULES: readonly string[] = ['ip_vs', 'ip_vs_rr', 'nf_conntrack', 'veth', 'dummy'];

/** Loaded when present; the tests that need them fail on their own if absent. */
export const OPTIONAL_MODULES: readonly string[] = [
  'ip_vs_wrr', 'ip_vs_lc', 'ip_vs_wlc', 'ip_vs_lblc', 'ip_vs_lblcr', 'ip_vs_dh', 'ip_vs_sh',
  'ip_vs_sed', 'ip_vs_nq', 'ip_vs_fo', 'ip_vs_ovf', 'ip_vs_mh',
  'nf_nat', 'xt_ipvs', 'ip_tables', 'iptable_filter', 'iptable_nat', 'xt_MASQUERADE', 'bridge',
];

/** Tools used inside the kernel by the harness and by tests/lib.ts. */
const REQUIRED_TOOLS = ['ipvsadm', 'ip', 'unshare'];
const INSTALL_HINT = 'run `make deps-system` (or as root: apt-get install -y --no-install-recommends user-mode-linux busybox-static kmod ipvsadm iproute2 iptables)';

let cached: KernelAvailability | undefined;

/** Detect once per process (detection may run modprobe and unshare). */
export function kernelAvailability(): KernelAvailability {
  return (cached ??= detect());
}

function detect(): KernelAvailability {
  const forced = process.env.L4LB_KERNEL_MODE ?? 'auto';
  if (forced !== 'auto' && forced !== 'uml' && forced !== 'netns') {
    return { ok: false, reason: `L4LB_KERNEL_MODE="${forced}" is not one of auto, uml, netns`, fix: 'unset L4LB_KERNEL_MODE or set it to auto|uml|netns' };
  }
  const missingTools = REQUIRED_TOOLS.filter((t) => which(t) === undefined);
  if (missingTools.length > 0) {
    return { ok: false, reason: `missing tools: ${missingTools.join(', ')}`, fix: INSTALL_HINT };
  }
  let hostWhyNot: string | undefined;
  if (forced !== 'uml') {
    hostWhyNot = hostIpvsProblem();
    if (hostWhyNot === undefined) return { ok: true, mode: 'netns', kernel: `host kernel ${release()}` };
    if (forced === 'netns') return { ok: false, reason: `L4LB_KERNEL_MODE=netns but ${hostWhyNot}`, fix: 'unset L4LB_KERNEL_MODE to fall back to user-mode Linux' };
  }
  const uml = detectUml();
  if (uml.ok || hostWhyNot === undefined) return uml;
  return { ok: false, reason: `host kernel unusable (${hostWhyNot}) and user-mode Linux unusable (${uml.reason})`, fix: uml.fix };
}

/** Why the host kernel cannot run the tests directly, or undefined if it can. */
function hostIpvsProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (IPVS and network namespaces need CAP_NET_ADMIN)';
  // /proc/net/ip_vs exists in every netns once ip_vs is loaded (or built in).
  if (!existsSync('/proc/net/ip_vs')) {
    const modprobe = which('modprobe');
    if (modprobe === undefined) return 'host kernel has no IPVS loaded and modprobe is not installed';
    const r = spawnSync(modprobe, ['ip_vs'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0 || !existsSync('/proc/net/ip_vs')) {
      return `host kernel ${release()} has no IPVS (\`modprobe ip_vs\`: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]})`;
    }
  }
  const u = spawnSync(which('unshare') ?? 'unshare', ['-n', '-m', 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (u.status !== 0) return `\`unshare -n -m\` fails: ${(u.stderr || u.error?.message || `exit ${u.status}`).trim()}`;
  return undefined;
}

/** Module names present in a modules dir (modules.dep + modules.builtin), normalised to underscores. */
export function modulesIn(dir: string): Set<string> {
  const names = new Set<string>();
  for (const file of ['modules.dep', 'modules.builtin']) {
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const path = line.split(':')[0]?.trim();
      if (!path) continue;
      const base = path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.(xz|zst|gz))?$/, '');
      names.add(base.replace(/-/g, '_'));
    }
  }
  return names;
}

function detectUml(): Unavailable | UmlAvailability {
  const umlBinary = process.env.L4LB_UML_BINARY ?? '/usr/bin/linux.uml';
  if (!existsSync(umlBinary)) return { ok: false, reason: `${umlBinary} not found (package user-mode-linux)`, fix: INSTALL_HINT };
  const base = process.env.L4LB_UML_MODULES ?? '/usr/lib/uml/modules';
  let versions: string[];
  try {
    versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'modules.dep')));
  } catch {
    versions = [];
  }
  if (versions.length === 0) return { ok: false, reason: `no UML modules under ${base}`, fix: INSTALL_HINT };
  // Several versions only during a package upgrade: take the newest.
  versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const version = versions[versions.length - 1]!;
  const modulesDir = join(base, version);
  const present = modulesIn(modulesDir);
  const missingRequired = REQUIRED_MODULES.filter((m) => !present.has(m));
  if (missingRequired.length > 0) {
    return { ok: false, reason: `UML ${version} lacks required modules: ${missingRequired.join(', ')}`, fix: 'install a user-mode-linux build with IPVS, veth and dummy as modules' };
  }
  for (const tool of ['busybox', 'modprobe']) {
    if (which(tool) === undefined) return { ok: false, reason: `${tool} not found (the UML init script needs it)`, fix: INSTALL_HINT };
  }
  const warnings: string[] = [];
  if (which('taskset') === undefined) warnings.push('taskset not found: the guest runs unpinned (2-3x slower, erratic)');
  if (which('iptables-legacy') === undefined) warnings.push('iptables-legacy not found: iptables in the guest will fail (UML has no nftables IPv4)');
  const missingOptional = OPTIONAL_MODULES.filter((m) => !present.has(m));
  const modules = [...REQUIRED_MODULES, ...OPTIONAL_MODULES.filter((m) => present.has(m))];
  return { ok: true, mode: 'uml', kernel: `user-mode Linux ${version}`, version, umlBinary, modulesDir, modules, missingOptional, warnings };
}
