// DNS server for l4lb's zones over UDP and TCP (RFC 1035 4.2; TCP framing
// with a 2-byte length, RFC 7766). Answers come from the current Zone, which
// the daemon replaces whenever the set of forwarding VIPs changes.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet } from 'dns-packet';
import type { Logger } from '../log.js';
import { formatError, truncated, udpLimit, Zone } from './zone.js';

export interface DnsServerOptions {
  /** `host:port` or `[v6]:port` addresses to listen on, UDP and TCP each. */
  listen: readonly string[];
  logger: Logger;
  /** Concurrent TCP connections before new ones are refused. */
  maxTcpConnections?: number;
  /** A TCP connection idle this long is closed. */
  tcpIdleMs?: number;
}

export class DnsListenError extends Error {
  readonly code = 'ERR_DNS_LISTEN';
  constructor(
    readonly address: string,
    cause: NodeJS.ErrnoException,
  ) {
    const why =
      cause.code === 'EADDRINUSE'
        ? 'the address is already in use (another DNS server on this node?)'
        : cause.code === 'EACCES'
          ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
          : cause.code === 'EADDRNOTAVAIL'
            ? 'no such local address on this node'
            : cause.message;
    super(`DNS cannot listen on ${address}: ${why}`);
    this.name = 'DnsListenError';
  }
}

export interface DnsCounters {
  queries: number;
  /** Responses by rcode name: NOERROR, NXDOMAIN, REFUSED, FORMERR, NOTIMP. */
  responses: Record<string, number>;
  truncated: number;
  dropped: number;
  /** Answered queries by `<question type>|<rcode name>` (`A|NOERROR`), for metrics. */
  byTypeRcode: Map<string, number>;
}

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const KNOWN_TYPES = new Set(['A', 'AAAA', 'SRV', 'SOA', 'NS', 'ANY', 'TXT', 'CNAME', 'PTR', 'MX', 'HTTPS', 'SVCB', 'NONE', 'UNDECODABLE']);

export function parseListenAddress(s: string): { host: string; port: number; family: 4 | 6 } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([0-9.]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid DNS listen address ${JSON.stringify(s)}: use host:port or [ipv6]:port`);
  }
  return { host: m[1]!, port, family: s.startsWith('[') ? 6 : 4 };
}

export class DnsServer {
  private zone = new Zone([]);
  private readonly udp: UdpSocket[] = [];
  private readonly tcp: TcpServer[] = [];
  private readonly conns = new Set<Socket>();
  readonly counters: DnsCounters = { queries: 0, responses: {}, truncated: 0, dropped: 0, byTypeRcode: new Map() };

  constructor(private readonly opts: DnsServerOptions) {}

  /** Replaces the zone; queries in flight finish with the zone they started with. */
  setZone(zone: Zone): void {
    this.zone = zone;
  }

  async start(): Promise<void> {
    try {
      for (const a of this.opts.listen) {
        const { host, port, family } = parseListenAddress(a);
        const u = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
        await new Promise<void>((resolve, reject) => {
          u.once('error', (e) => reject(new DnsListenError(a, e)));
          u.bind(port, host, () => resolve());
        });
        u.on('error', (e) => this.opts.logger.warn('dns udp socket error', { component: 'dns', address: a, error: e.message }));
        u.on('message', (msg, rinfo) => this.onUdp(u, msg, rinfo.address, rinfo.port));
        this.udp.push(u);
        // The TCP listener takes the port UDP got (port 0 in tests picks one for both).
        const boundPort = u.address().port;
        const t = createServer((s) => this.onTcp(s));
        await new Promise<void>((resolve, reject) => {
          t.once('error', (e) => reject(new DnsListenError(a, e as NodeJS.ErrnoException)));
          t.listen({ port: boundPort, host, ipv6Only: family === 6 }, () => resolve());
        });
        this.tcp.push(t);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Bound addresses (`127.0.0.1:5353`), as UDP reports them. */
  addresses(): string[] {
    return this.udp.map((u) => {
      const a = u.address();
      return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    });
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await Promise.all(this.tcp.map((t) => new Promise<void>((r) => t.close(() => r()))));
    for (const u of this.udp) u.close();
    this.tcp.length = 0;
    this.udp.length = 0;
  }

  /** Decodes, answers and encodes one message; undefined when it must be dropped. */
  respond(msg: Buffer, udp: boolean): Buffer | undefined {
    this.counters.queries++;
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      // Answer FORMERR when at least the header is there, so the client stops waiting.
      if (msg.length < 12 || msg[2]! & 0x80) {
        this.counters.dropped++;
        return undefined;
      }
      return this.encode(formatError(msg.readUInt16BE(0), msg.readUInt16BE(2)), 'UNDECODABLE');
    }
    if ((query.flags ?? 0) & 0x8000 || query.type === 'response') {
      this.counters.dropped++; // a response sent to us: never answer (no reflection loops)
      return undefined;
    }
    let response: Packet = this.zone.answer(query);
    const qtype = query.questions?.length === 1 ? String(query.questions[0]!.type) : 'NONE';
    let out = this.encode(response, qtype);
    if (udp && out.length > udpLimit(query)) {
      this.counters.truncated++;
      response = truncated(response);
      out = this.encode(response);
    }
    return out;
  }

  private encode(p: Packet, qtype?: string): Buffer {
    const name = RCODE_NAMES[(p.flags ?? 0) & 0xf] ?? 'OTHER';
    this.counters.responses[name] = (this.counters.responses[name] ?? 0) + 1;
    if (qtype !== undefined) {
      // Only types a client can name; anything else is counted as OTHER so labels stay bounded.
      const key = `${KNOWN_TYPES.has(qtype) ? qtype : 'OTHER'}|${name}`;
      this.counters.byTypeRcode.set(key, (this.counters.byTypeRcode.get(key) ?? 0) + 1);
    }
    return dnsPacket.encode(p);
  }

  private onUdp(u: UdpSocket, msg: Buffer, host: string, port: number): void {
    const out = this.respond(msg, true);
    if (out) u.send(out, port, host);
  }

  private onTcp(s: Socket): void {
    if (this.conns.size >= (this.opts.maxTcpConnections ?? 256)) {
      this.counters.dropped++;
      s.destroy();
      return;
    }
    this.conns.add(s);
    s.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => s.destroy());
    let pending: Buffer = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (len === 0) {
          s.destroy(); // a zero-length message is not DNS
          return;
        }
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        const out = this.respond(Buffer.from(msg), false);
        if (out) {
          const frame = Buffer.allocUnsafe(2 + out.length);
          frame.writeUInt16BE(out.length, 0);
          out.copy(frame, 2);
          s.write(frame);
        }
      }
    });
  }
}
