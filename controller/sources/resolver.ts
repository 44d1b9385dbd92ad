// Agent hostname -> IPv4, as dcos-net does (first IPv4 of the name). An IP
// literal is itself; other names go through an injected lookup (default
// dns.lookup family 4) and are cached: answers for `ttlMs`, failures for
// `negativeTtlMs` so a name that does not resolve is retried later.

import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Timers } from './timers.js';
import { realTimers } from './timers.js';

export interface AgentResolver {
  /** The cached answer, without I/O: an IP, null for a cached failure, undefined if unknown. */
  peek(hostname: string): string | null | undefined;
  /** Resolves (and caches); never rejects: undefined when the name has no IPv4. */
  resolve(hostname: string): Promise<string | undefined>;
}

export interface DnsResolverOptions {
  /** hostname -> IPv4 (default dns.lookup with family 4). */
  lookup?: (hostname: string) => Promise<string | undefined>;
  ttlMs?: number;
  negativeTtlMs?: number;
  timers?: Timers;
}

const defaultLookup = async (hostname: string): Promise<string | undefined> => (await dnsLookup(hostname, { family: 4 })).address;

export function createDnsResolver(opts: DnsResolverOptions = {}): AgentResolver {
  const lookup = opts.lookup ?? defaultLookup;
  const ttl = opts.ttlMs ?? 10 * 60_000;
  const negativeTtl = opts.negativeTtlMs ?? 30_000;
  const timers = opts.timers ?? realTimers;
  const cache = new Map<string, { ip: string | null; until: number }>();
  const inflight = new Map<string, Promise<string | undefined>>();

  const peek = (hostname: string): string | null | undefined => {
    if (isIP(hostname) === 4) return hostname;
    if (isIP(hostname) === 6) return null; // dcos-net takes IPv4 only
    const hit = cache.get(hostname);
    if (hit === undefined) return undefined;
    if (hit.until < timers.now()) return hit.ip === null ? undefined : hit.ip; // stale: usable, refreshed on resolve()
    return hit.ip;
  };

  const resolve = (hostname: string): Promise<string | undefined> => {
    if (isIP(hostname) !== 0) return Promise.resolve(isIP(hostname) === 4 ? hostname : undefined);
    const hit = cache.get(hostname);
    if (hit !== undefined && hit.until >= timers.now()) return Promise.resolve(hit.ip ?? undefined);
    const running = inflight.get(hostname);
    if (running !== undefined) return running;
    const p = lookup(hostname)
      .then((ip) => (ip !== undefined && isIP(ip) === 4 ? ip : undefined))
      .catch(() => undefined)
      .then((ip) => {
        inflight.delete(hostname);
        cache.set(hostname, { ip: ip ?? null, until: timers.now() + (ip === undefined ? negativeTtl : ttl) });
        return ip;
      });
    inflight.set(hostname, p);
    return p;
  };

  return { peek, resolve };
}

/** A resolver from a fixed table (tests, emulators); IP literals resolve to themselves. */
export function staticResolver(table: Record<string, string> = {}): AgentResolver {
  const get = (h: string): string | undefined => (isIP(h) === 4 ? h : table[h]);
  return { peek: (h) => get(h) ?? null, resolve: (h) => Promise.resolve(get(h)) };
}
