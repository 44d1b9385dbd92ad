// Model options: named-VIP address pools and the IPv6 switch.
//
// Defaults are what DC/OS ships, not dcos-net's code defaults:
//   IPv4 11.0.0.0 - 11.255.255.255 (DC/OS gen/calc.py -> dcos-config.yaml;
//        dcos-net's own default max is 11.255.255.254, which moves every hash)
//   IPv6 fd01:c:: - fd01:c::ffff:ffff:ffff:ffff
//   IPv6 enabled: true (dcos-net `enable_ipv6` defaults to true). With it off,
//        IPv6 task IPs are not backends and IPv6 IP VIPs are rejected.
// As in dcos-net, a pool of min..max hands out min + (hash mod (max - min)),
// so `max` itself is never assigned.

import { ModelError } from './errors.js';
import { formatIp, parseIpv4, parseIpv6 } from './ip.js';
import type { Family, ModelOptions } from './types.js';

export interface Pool {
  family: Family;
  min: bigint;
  max: bigint;
  /** max - min: number of assignable addresses (the phash2/SHA-1 range). */
  size: bigint;
}

export interface ResolvedOptions {
  ipv4: Pool;
  ipv6: Pool;
  ipv6Enabled: boolean;
}

export const DEFAULT_OPTIONS: Required<ModelOptions> = {
  ipv4Min: '11.0.0.0',
  ipv4Max: '11.255.255.255',
  ipv6Min: 'fd01:c::',
  ipv6Max: 'fd01:c::ffff:ffff:ffff:ffff',
  ipv6Enabled: true,
};

function pool(family: Family, minText: string, maxText: string): Pool {
  const parse = family === 4 ? parseIpv4 : parseIpv6;
  const min = parse(minText);
  const max = parse(maxText);
  if (min === undefined || max === undefined) {
    throw new ModelError('MODEL_BAD_OPTIONS', `IPv${family} pool ${minText} - ${maxText}: not IPv${family} addresses`);
  }
  if (max <= min) {
    throw new ModelError('MODEL_BAD_OPTIONS', `IPv${family} pool ${minText} - ${maxText}: max must be above min`);
  }
  return { family, min, max, size: max - min };
}

/** Fill defaults and validate; throws ModelError(MODEL_BAD_OPTIONS). */
export function resolveOptions(options: ModelOptions = {}): ResolvedOptions {
  const o = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
  return {
    ipv4: pool(4, o.ipv4Min, o.ipv4Max),
    ipv6: pool(6, o.ipv6Min, o.ipv6Max),
    ipv6Enabled: o.ipv6Enabled,
  };
}

function stripUndefined(o: ModelOptions): ModelOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ModelOptions;
}

/** Offset of an address inside the pool's assignable range, or undefined. */
export function poolOffset(p: Pool, value: bigint): bigint | undefined {
  return value >= p.min && value < p.max ? value - p.min : undefined;
}

export function poolAddress(p: Pool, offset: bigint): string {
  return formatIp(p.family, p.min + offset);
}
