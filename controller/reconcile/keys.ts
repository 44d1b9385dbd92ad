// VIP keys <-> IPVS service keys. The reconciler names everything by the
// model's VIP key (`tcp/11.215.13.222:80`, `udp/[fd01:c::1]:53`), also for
// kernel services, so a desired VIP and the kernel service it programs have
// the same key, and the ownership record, the queue and the logs use it.

import { hostPort, parseIp, type Vip } from '../model/index.js';
import { makeService, type Service, type ServiceKey } from '../../native/ipvs/index.js';

/** Errors of the reconciler, each with a stable `code`. */
export type ReconcileErrorCode =
  | 'ERR_RECONCILE_BAD_KEY'
  | 'ERR_OWNERSHIP_RECORD'
  | 'ERR_OWNERSHIP_WRITE'
  | 'ERR_RECONCILE_READ'
  | 'ERR_RECONCILE_APPLY'
  | 'ERR_RECONCILE_HOOK';

export class ReconcileError extends Error {
  constructor(
    readonly code: ReconcileErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReconcileError';
  }
}

/**
 * The VIP key of a kernel service, in the model's canonical address form, or
 * undefined for services l4lb never creates (firewall marks, SCTP): those are
 * foreign by construction.
 */
export function keyOfService(k: ServiceKey): string | undefined {
  if (k.fwmark !== 0 || (k.protocol !== 'tcp' && k.protocol !== 'udp')) return undefined;
  const ip = parseIp(k.address);
  if (!ip) return undefined;
  return `${k.protocol}/${hostPort(ip.address, k.port)}`;
}

/** `tcp/1.2.3.4:80` -> the service key; throws ReconcileError on anything else. */
export function serviceKeyOf(key: string): ServiceKey {
  const m = /^(tcp|udp)\/(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(key);
  const ip = m ? parseIp(m[2] ?? m[3] ?? '') : undefined;
  const port = m ? Number(m[4]) : NaN;
  if (!m || !ip || port > 65535 || (m[2] !== undefined) !== (ip.family === 6)) {
    throw new ReconcileError('ERR_RECONCILE_BAD_KEY', `not a VIP key: ${JSON.stringify(key)} (expected e.g. tcp/11.0.0.1:80 or udp/[fd01:c::1]:53)`);
  }
  return {
    family: ip.family === 6 ? 'inet6' : 'inet',
    protocol: m[1] as 'tcp' | 'udp',
    address: ip.address,
    port,
    fwmark: 0,
  };
}

/** The canonical form of a VIP key (what `mark()` stores); throws on a malformed key. */
export function canonicalKey(key: string): string {
  const canonical = keyOfService(serviceKeyOf(key))!;
  // The model's keys are canonical already: keep its string, so a key is held once, not twice.
  return canonical === key ? key : canonical;
}

/** The kernel service a desired VIP should be, with the given scheduler. */
export function serviceOfVip(vip: Vip, scheduler: string): Service {
  return makeService({
    family: vip.family === 6 ? 'inet6' : 'inet',
    protocol: vip.protocol,
    address: vip.address,
    port: vip.port,
    scheduler,
  });
}
