// The l4lb.thisdcos.directory zone, as dcos-net serves it: A/AAAA with TTL 5,
// SOA and NS of `ns.spartan`, NXDOMAIN for unknown names, and the aliases
// dclb.thisdcos.directory, l4lb.thisdcos.global, dclb.thisdcos.global that
// answer with the name that was queried. Beyond dcos-net: SRV records
// `_<port-name>._<proto>.<name>` with the VIP's port.
//
// Pure: a query packet in, a response packet out. The server does the I/O.

import type { Answer, DecodedPacket, Packet, RecordType } from 'dns-packet';

export const ZONE = 'l4lb.thisdcos.directory';
export const ALIASES = ['dclb.thisdcos.directory', 'l4lb.thisdcos.global', 'dclb.thisdcos.global'] as const;
export const TTL = 5;
const NS_NAME = 'ns.spartan';
const NS_TTL = 3600;
const SOA = { mname: NS_NAME, rname: 'support.mesosphere.com', serial: 1, refresh: 60, retry: 180, expire: 86400, minimum: 1 };

// Header bits (RFC 1035 4.1.1).
const AA = 1 << 10;
const TC = 1 << 9;
const RD = 1 << 8;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** One name of the zone: a named VIP that forwards. */
export interface ZoneName {
  /** Relative to the zone: `myapp.marathon`. */
  name: string;
  ipv4?: string;
  ipv6?: string;
  /** Ports by name for SRV: `_http._tcp.myapp.marathon...` -> 80. */
  srv?: ReadonlyArray<{ portName: string; protocol: 'tcp' | 'udp'; port: number }>;
}

/** A compiled zone: lookups are a map access. Rebuilt whenever the VIP table changes. */
export class Zone {
  private readonly names = new Map<string, ZoneName>();
  private readonly srv = new Map<string, Array<{ port: number; target: string }>>();
  /** Every proper suffix of a name (`marathon` for `myapp.marathon`): they exist with no records. */
  private readonly nonTerminals = new Set<string>();

  constructor(entries: Iterable<ZoneName>) {
    for (const e of entries) {
      const n = e.name.toLowerCase();
      this.names.set(n, e);
      this.addAncestors(n);
      for (const s of e.srv ?? []) {
        const key = `_${s.portName.toLowerCase()}._${s.protocol}.${n}`;
        const list = this.srv.get(key) ?? [];
        if (!list.some((x) => x.port === s.port)) list.push({ port: s.port, target: n });
        this.srv.set(key, list);
        this.addAncestors(key);
      }
    }
  }

  private addAncestors(n: string): void {
    for (let i = n.indexOf('.'); i >= 0; i = n.indexOf('.', i + 1)) this.nonTerminals.add(n.slice(i + 1));
  }

  get size(): number {
    return this.names.size;
  }

  /** Answers one query packet (not truncated: see `truncated` and `udpLimit`). */
  answer(q: DecodedPacket): Packet {
    const base = { type: 'response' as const, id: q.id ?? 0, questions: q.questions ?? [] };
    const rd = (q.flags ?? 0) & RD;
    if (q.type !== 'query' && (q as { flag_qr?: boolean }).flag_qr) return { ...base, flags: rd | RCODE.FORMERR };
    if ((q as { opcode?: string }).opcode !== undefined && (q as { opcode?: string }).opcode !== 'QUERY') return { ...base, flags: rd | RCODE.NOTIMP };
    if (base.questions.length !== 1) return { ...base, flags: rd | RCODE.FORMERR };
    const question = base.questions[0]!;
    if ((question.class ?? 'IN') !== 'IN' && question.class !== 'ANY') return { ...base, flags: rd | RCODE.REFUSED };

    const qname = question.name.toLowerCase().replace(/\.$/, '');
    const zone = zoneOf(qname);
    if (!zone) return { ...base, flags: rd | RCODE.REFUSED }; // not ours: we are no recursive resolver
    const rel = qname === zone ? '' : qname.slice(0, -(zone.length + 1));
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const soa: Answer = { type: 'SOA', name: zone, ttl: TTL, class: 'IN', data: SOA };
    const wants = (t: RecordType) => question.type === t || (question.type as string) === 'ANY';
    let exists = false;

    if (rel === '') {
      exists = true;
      if (wants('SOA')) answers.push(soa);
      if (wants('NS')) answers.push({ type: 'NS', name: zone, ttl: NS_TTL, class: 'IN', data: NS_NAME });
    } else {
      const entry = this.names.get(rel);
      if (entry) {
        exists = true;
        if (wants('A') && entry.ipv4) answers.push({ type: 'A', name: question.name, ttl: TTL, class: 'IN', data: entry.ipv4 });
        if (wants('AAAA') && entry.ipv6) answers.push({ type: 'AAAA', name: question.name, ttl: TTL, class: 'IN', data: entry.ipv6 });
      }
      const srv = this.srv.get(rel);
      if (srv) {
        exists = true;
        if (wants('SRV')) {
          for (const s of srv) {
            const target = `${s.target}.${zone}`;
            answers.push({ type: 'SRV', name: question.name, ttl: TTL, class: 'IN', data: { priority: 0, weight: 0, port: s.port, target } });
            const t = this.names.get(s.target);
            if (t?.ipv4) additionals.push({ type: 'A', name: target, ttl: TTL, class: 'IN', data: t.ipv4 });
            if (t?.ipv6) additionals.push({ type: 'AAAA', name: target, ttl: TTL, class: 'IN', data: t.ipv6 });
          }
        }
      }
      // A name with deeper names below it exists too (empty non-terminal), e.g. `marathon`.
      if (!exists && this.nonTerminals.has(rel)) exists = true;
    }

    const opt = (q.additionals ?? []).find((a) => a.type === 'OPT');
    const extra: Answer[] = opt ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as Answer] : [];
    return {
      ...base,
      flags: AA | rd | (exists ? RCODE.NOERROR : RCODE.NXDOMAIN),
      answers,
      authorities: answers.length === 0 ? [soa] : [],
      additionals: [...additionals, ...extra],
    };
  }
}

/** The zone apex a name belongs to (one of l4lb's four), or undefined. */
export function zoneOf(qname: string): string | undefined {
  for (const z of [ZONE, ...ALIASES]) if (qname === z || qname.endsWith(`.${z}`)) return z;
  return undefined;
}

/** The largest UDP response the client accepts: 512, or its EDNS payload size (capped by ours, 1232). */
export function udpLimit(q: Packet): number {
  const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  return opt ? Math.min(1232, Math.max(512, opt.udpPayloadSize ?? 512)) : 512;
}

/** The response sent when the real one does not fit: no records, TC set, so the client retries over TCP. */
export function truncated(p: Packet): Packet {
  const opt = (p.additionals ?? []).filter((a) => a.type === 'OPT');
  return { ...p, flags: (p.flags ?? 0) | TC, answers: [], authorities: [], additionals: opt };
}

/** A response for a query that could not be decoded beyond its header. */
export function formatError(id: number, flags: number): Packet {
  return { type: 'response', id, flags: (flags & RD) | RCODE.FORMERR, questions: [] };
}
