// Random IPVS rule sets and their `ipvsadm -S -n` text, for the round-trip
// tests against ipvsadm and the programming benchmarks.
//
// The text is what ipvsadm 1.31 (Debian 12) prints for `-S -n`, so a set
// rendered here can be fed to `ipvsadm -R` and compared line for line with
// what `ipvsadm -S -n` prints back. Thresholds are not part of `-S`; they are
// rendered separately in the shape of `ipvsadm -Ln --thresholds`.

import {
  makeDestination,
  makeService,
  defaultNetmask,
  formatNetmask,
  flags as F,
  type Destination,
  type Family,
  type Protocol,
  type Service,
} from '../../native/ipvs/index.js';

export interface RuleSet {
  services: Array<{ service: Service; destinations: Destination[] }>;
}

/** Schedulers in the UML 6.1 kernel (ip_vs_twos arrived in 6.2). */
export const TEST_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'] as const;

/** mulberry32: small, seedable, good enough to pick test cases reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomOptions {
  services: number;
  /** Destinations per service: uniformly 0..maxDestinations. */
  maxDestinations: number;
  /** Exactly maxDestinations per service instead of 0..maxDestinations. */
  exact?: boolean;
  /** Every feature (fwmark, IPv6, tunnels, persistence...) or plain TCP/IPv4 masquerading only. */
  variety?: 'all' | 'plain';
}

export function randomRuleSet(seed: number, o: RandomOptions): RuleSet {
  const r = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;
  const all = (o.variety ?? 'all') === 'all';
  const used = new Set<string>();
  const services: RuleSet['services'] = [];

  const v4 = (net: number) => `${net === 0 ? '198.51.100' : net === 1 ? '203.0.113' : '192.0.2'}.${int(1, 254)}`;
  const v6 = () => `2001:db8:${int(0, 0xffff).toString(16)}::${int(1, 0xffff).toString(16)}`;

  while (services.length < o.services) {
    const family: Family = all && chance(0.3) ? 'inet6' : 'inet';
    const fwmark = all && chance(0.1) ? int(1, 0xfffffff) : 0;
    const protocol: Protocol = all ? pick(['tcp', 'tcp', 'udp', 'sctp'] as const) : 'tcp';
    const address = fwmark ? (family === 'inet6' ? '::' : '0.0.0.0') : family === 'inet6' ? v6() : v4(services.length % 3);
    const port = fwmark ? 0 : int(1, 65535);
    const id = fwmark ? `${family}/fwm/${fwmark}` : `${family}/${protocol}/${address}/${port}`;
    if (used.has(id)) continue;
    used.add(id);

    const scheduler = all ? pick(TEST_SCHEDULERS) : 'wlc';
    let flags = 0;
    let timeout = 0;
    let netmask = defaultNetmask(family);
    let pe = '';
    if (all && chance(0.3)) {
      flags |= F.IP_VS_SVC_F_PERSISTENT;
      timeout = int(1, 86400);
      if (chance(0.5)) netmask = family === 'inet6' ? int(1, 128) : (0xffffffff << (32 - int(1, 32))) >>> 0;
      if (protocol === 'udp' && !fwmark && chance(0.3)) pe = 'sip';
    }
    if (all && protocol === 'udp' && !fwmark && chance(0.3)) flags |= F.IP_VS_SVC_F_ONEPACKET;
    if (all && chance(0.2)) {
      const bits = scheduler === 'sh' || scheduler === 'mh' ? [F.IP_VS_SVC_F_SCHED1, F.IP_VS_SVC_F_SCHED2] : [F.IP_VS_SVC_F_SCHED1, F.IP_VS_SVC_F_SCHED2, F.IP_VS_SVC_F_SCHED3];
      for (const b of bits) if (chance(0.5)) flags |= b;
    }
    const service = makeService({ family, protocol: fwmark ? 'tcp' : protocol, address, port, fwmark, scheduler, flags, timeout, netmask, pe });

    const destinations: Destination[] = [];
    const usedDest = new Set<string>();
    const n = o.exact ? o.maxDestinations : int(0, o.maxDestinations);
    while (destinations.length < n) {
      const forward = all ? pick(['masq', 'masq', 'route', 'tunnel'] as const) : 'masq';
      // Only tunnels may cross families (ipvsadm and the kernel both insist).
      const dfamily: Family = forward === 'tunnel' && chance(0.2) ? (family === 'inet' ? 'inet6' : 'inet') : family;
      // 198.18.0.0/15 (RFC 2544, benchmarking): never routed, only programmed.
      const daddr = dfamily === 'inet6' ? v6() : `198.${int(18, 19)}.${int(0, 255)}.${int(1, 254)}`;
      // ipvsadm forces a route/tunnel destination's port to the service's.
      const dport = !fwmark && forward !== 'masq' ? port : int(1, 65535);
      const did = `${dfamily}/${daddr}/${dport}`;
      if (usedDest.has(did)) continue;
      usedDest.add(did);
      const upper = all && chance(0.2) ? int(1, 100000) : 0;
      const lower = upper && chance(0.5) ? int(0, upper) : 0;
      let tunnelType: Destination['tunnelType'] = 'ipip';
      let tunnelPort = 0;
      let tunnelFlags = 0;
      if (forward === 'tunnel') {
        tunnelType = pick(['ipip', 'gue', 'gre'] as const);
        if (tunnelType === 'gue') {
          tunnelPort = int(1, 65535);
          tunnelFlags = pick([0, F.IP_VS_TUNNEL_ENCAP_FLAG_CSUM, F.IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM]);
        } else if (tunnelType === 'gre') {
          tunnelFlags = pick([0, F.IP_VS_TUNNEL_ENCAP_FLAG_CSUM]);
        }
      }
      destinations.push(
        makeDestination({
          family: dfamily, address: daddr, port: dport, forward,
          weight: all ? pick([0, 1, 1, 1, int(0, 65535)]) : 1,
          upperThreshold: upper, lowerThreshold: lower, tunnelType, tunnelPort, tunnelFlags,
        }),
      );
    }
    services.push({ service, destinations });
  }
  return { services };
}

const PROTO_SWITCH: Record<Protocol, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
const FWD_SWITCH: Record<Destination['forward'], string> = { masq: '-m', route: '-g', local: '-g', tunnel: '-i', bypass: '-g' };
const TUN_FLAG_SWITCH = ['--tun-nocsum', '--tun-csum', '--tun-remcsum'];

function hostPort(family: Family, address: string, port: number): string {
  return family === 'inet6' ? `[${address}]:${port}` : `${address}:${port}`;
}

export function serviceSwitch(s: Service): string {
  if (s.fwmark > 0) return `-f ${s.fwmark}${s.family === 'inet6' ? ' -6' : ''}`;
  return `${PROTO_SWITCH[s.protocol]} ${hostPort(s.family, s.address, s.port)}`;
}

function schedFlagNames(s: Service): string[] {
  const names: string[] = [];
  const bits = [F.IP_VS_SVC_F_SCHED1, F.IP_VS_SVC_F_SCHED2, F.IP_VS_SVC_F_SCHED3];
  bits.forEach((bit, i) => {
    if (!(s.flags & bit)) return;
    if ((s.scheduler === 'sh' || s.scheduler === 'mh') && i < 2) names.push(`${s.scheduler}-${i === 0 ? 'fallback' : 'port'}`);
    else names.push(`flag-${i + 1}`);
  });
  return names;
}

/** The `-A` line `ipvsadm -S -n` prints for a service. */
export function serviceLine(s: Service): string {
  let line = `-A ${serviceSwitch(s)} -s ${s.scheduler}`;
  if (s.flags & F.IP_VS_SVC_F_PERSISTENT) {
    line += ` -p ${s.timeout}`;
    if (s.netmask !== defaultNetmask(s.family)) line += ` -M ${formatNetmask(s)}`;
  }
  if (s.pe) line += ` --pe ${s.pe}`;
  if (s.flags & F.IP_VS_SVC_F_ONEPACKET) line += ' -o';
  const b = schedFlagNames(s);
  if (b.length) line += ` -b ${b.join(',')}`;
  return line;
}

/** The `-a` line `ipvsadm -S -n` prints for a destination. */
export function destinationLine(s: Service, d: Destination): string {
  let line = `-a ${serviceSwitch(s)} -r ${hostPort(d.family, d.address, d.port)} ${FWD_SWITCH[d.forward]} -w ${d.weight}`;
  if (d.forward === 'tunnel') {
    line += ` --tun-type ${d.tunnelType}`;
    if (d.tunnelType === 'gue') line += ` --tun-port ${d.tunnelPort} ${TUN_FLAG_SWITCH[d.tunnelFlags]}`;
    else if (d.tunnelType === 'gre') line += ` ${TUN_FLAG_SWITCH[d.tunnelFlags]}`;
  }
  return line;
}

/** Input for `ipvsadm -R`, line order: each service, then its destinations. */
export function restoreText(set: RuleSet): string {
  const lines: string[] = [];
  for (const { service, destinations } of set.services) {
    lines.push(serviceLine(service));
    for (const d of destinations) lines.push(destinationLine(service, d));
  }
  return lines.join('\n') + '\n';
}

/**
 * `-e` lines that set the thresholds `-S` leaves out; appended to a restore
 * so that one `ipvsadm -R` writes the whole set.
 */
export function thresholdEditLines(set: RuleSet): string[] {
  const lines: string[] = [];
  for (const { service, destinations } of set.services) {
    for (const d of destinations) {
      if (!d.upperThreshold && !d.lowerThreshold) continue;
      lines.push(`${destinationLine(service, d).replace(/^-a /, '-e ')} -x ${d.upperThreshold} -y ${d.lowerThreshold}`);
    }
  }
  return lines;
}

/** What `ipvsadm -S -n` should print for the set, as sorted lines (ipvsadm's own order is its sort). */
export function expectedSaveLines(set: RuleSet): string[] {
  return restoreText(set).trim().split('\n').filter(Boolean).sort();
}

/** `ipvsadm -S -n` output as sorted lines. */
export function saveLines(text: string): string[] {
  return text.split('\n').map((l) => l.trimEnd()).filter(Boolean).sort();
}

/**
 * Thresholds as "SERVICE-HEADER|DEST upper lower" lines, comparable with
 * parseThresholds() of `ipvsadm -Ln --thresholds`; only non-zero ones.
 */
export function expectedThresholds(set: RuleSet): string[] {
  const out: string[] = [];
  for (const { destinations } of set.services) {
    for (const d of destinations) {
      if (d.upperThreshold || d.lowerThreshold) out.push(`${hostPort(d.family, d.address, d.port)} ${d.upperThreshold} ${d.lowerThreshold}`);
    }
  }
  return out.sort();
}

/** Destination threshold lines of `ipvsadm -Ln --thresholds`: "ADDR:PORT upper lower", only non-zero. */
export function parseThresholds(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+-> (\S+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+/.exec(line);
    if (m && (m[2] !== '0' || m[3] !== '0')) out.push(`${m[1]} ${m[2]} ${m[3]}`);
  }
  return out.sort();
}
