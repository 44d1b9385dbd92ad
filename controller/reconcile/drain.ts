// Graceful drain, as data: when each destination of each VIP started draining,
// and the pure rule that decides what happens to a destination that left the
// desired set. No clock, no I/O: `now` is passed in.
//
// The rule (anchors item 3, kube-proxy's graceful_termination.go, improved):
// - UDP (and any datagram protocol): deleted at once. A UDP "connection" is
//   only an IPVS entry that keeps steering packets to the dead backend until
//   its 300 s timeout; with expire_nodest_conn=1 (set by the dataplane) the
//   delete expires those entries on the next packet, so clients recover
//   instead of black-holing (items 4, k8s#71514).
// - TCP with no active and no inactive connections: deleted at once (one op,
//   no pointless weight-0 step).
// - TCP with connections: weight 0 (no new connections; existing ones keep
//   working) until the counts reach 0 or the drain timeout passes, then
//   deleted.
// - Draining starts when l4lb first sees the destination undesired: after a
//   restart (the in-memory state is gone) that is the restart time, so a
//   destination left at weight 0 by a crash is never stranded (k8s#81308).
// - A backend that comes back while draining gets its weight back (plan.ts)
//   and its entry is cleared.

import type { Protocol } from '../../native/ipvs/index.js';

/** Read side of the drain state, as plan() sees it. */
export interface DrainView {
  /** When `dest` (destinationKeyId) of `vip` started draining, or undefined. */
  startedAt(vip: string, dest: string): number | undefined;
  /** Every draining destination of `vip` with its start time. */
  entries(vip: string): Iterable<readonly [dest: string, startedAt: number]>;
}

/** A change plan() asks for: set the start time, or clear it (`startedAt` undefined). */
export interface DrainUpdate {
  vip: string;
  dest: string;
  startedAt?: number;
}

/** The drain state the loop keeps between passes. */
export class DrainState implements DrainView {
  private readonly byVip = new Map<string, Map<string, number>>();

  startedAt(vip: string, dest: string): number | undefined {
    return this.byVip.get(vip)?.get(dest);
  }

  entries(vip: string): Iterable<readonly [string, number]> {
    return this.byVip.get(vip)?.entries() ?? [];
  }

  apply(updates: Iterable<DrainUpdate>): void {
    for (const u of updates) {
      let m = this.byVip.get(u.vip);
      if (u.startedAt === undefined) {
        m?.delete(u.dest);
        if (m && m.size === 0) this.byVip.delete(u.vip);
        continue;
      }
      if (!m) this.byVip.set(u.vip, (m = new Map()));
      m.set(u.dest, u.startedAt);
    }
  }

  /** Drops every entry of a VIP (its service is gone). */
  forgetVip(vip: string): void {
    this.byVip.delete(vip);
  }

  /** Number of draining destinations. */
  get size(): number {
    let n = 0;
    for (const m of this.byVip.values()) n += m.size;
    return n;
  }
}

export type DrainVerdict =
  /** Delete the destination now. */
  | { action: 'delete'; reason: 'datagram' | 'idle' | 'timeout'; startedAt: number }
  /** Set weight 0 (if not yet) and keep it until `deadline` or until idle. */
  | { action: 'drain'; startedAt: number; deadline: number };

export interface UndesiredDestination {
  protocol: Protocol;
  activeConnections: number;
  inactiveConnections: number;
  /** From DrainView; undefined when l4lb has not seen it draining yet. */
  startedAt: number | undefined;
}

/** What to do with a destination that is in the kernel but not desired. Pure. */
export function decideUndesired(d: UndesiredDestination, now: number, timeoutMs: number): DrainVerdict {
  const startedAt = d.startedAt ?? now;
  if (d.protocol !== 'tcp') return { action: 'delete', reason: 'datagram', startedAt };
  if (d.activeConnections + d.inactiveConnections === 0) return { action: 'delete', reason: 'idle', startedAt };
  if (now - startedAt >= timeoutMs) return { action: 'delete', reason: 'timeout', startedAt };
  return { action: 'drain', startedAt, deadline: startedAt + timeoutMs };
}
