// IPVS traffic counters (IPVS_SVC_ATTR_STATS64 / IPVS_DEST_ATTR_STATS64).
// Equivalent to: `ipvsadm -Ln --stats --rate`.

import { Attrs } from '../netlink/reader.js';
import {
  IPVS_STATS_ATTR_CONNS,
  IPVS_STATS_ATTR_CPS,
  IPVS_STATS_ATTR_INBPS,
  IPVS_STATS_ATTR_INBYTES,
  IPVS_STATS_ATTR_INPKTS,
  IPVS_STATS_ATTR_INPPS,
  IPVS_STATS_ATTR_MAX,
  IPVS_STATS_ATTR_OUTBPS,
  IPVS_STATS_ATTR_OUTBYTES,
  IPVS_STATS_ATTR_OUTPKTS,
  IPVS_STATS_ATTR_OUTPPS,
} from './constants.js';

/** Counters since creation (or the last zero) and rates over the kernel's 2 s estimator. */
export interface Stats {
  connections: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections per second. */
  cps: number;
  packetsInPerSec: number;
  packetsOutPerSec: number;
  bytesInPerSec: number;
  bytesOutPerSec: number;
}

export function emptyStats(): Stats {
  return {
    connections: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    cps: 0,
    packetsInPerSec: 0,
    packetsOutPerSec: 0,
    bytesInPerSec: 0,
    bytesOutPerSec: 0,
  };
}

/**
 * What entries carry when read without counters (`{ stats: false }`): one
 * shared, frozen object, so a 100,000-destination read allocates nothing for
 * counters nobody looks at (the reconciler needs weights and connection
 * counts, not traffic).
 */
export const NO_STATS: Stats = Object.freeze(emptyStats()) as Stats;

/** Reusable decoder scratch for one nesting level of stats. */
export function statsAttrs(): Attrs {
  return new Attrs(IPVS_STATS_ATTR_MAX);
}

/**
 * Decodes a stats nest. `wide` is true for STATS64 (every field u64); the
 * legacy STATS nest has u32 counters and rates but u64 byte counts.
 */
export function decodeStats(a: Attrs, wide: boolean): Stats {
  if (wide) {
    return {
      connections: a.u64(IPVS_STATS_ATTR_CONNS),
      packetsIn: a.u64(IPVS_STATS_ATTR_INPKTS),
      packetsOut: a.u64(IPVS_STATS_ATTR_OUTPKTS),
      bytesIn: a.u64(IPVS_STATS_ATTR_INBYTES),
      bytesOut: a.u64(IPVS_STATS_ATTR_OUTBYTES),
      cps: a.u64(IPVS_STATS_ATTR_CPS),
      packetsInPerSec: a.u64(IPVS_STATS_ATTR_INPPS),
      packetsOutPerSec: a.u64(IPVS_STATS_ATTR_OUTPPS),
      bytesInPerSec: a.u64(IPVS_STATS_ATTR_INBPS),
      bytesOutPerSec: a.u64(IPVS_STATS_ATTR_OUTBPS),
    };
  }
  return {
    connections: a.u32(IPVS_STATS_ATTR_CONNS),
    packetsIn: a.u32(IPVS_STATS_ATTR_INPKTS),
    packetsOut: a.u32(IPVS_STATS_ATTR_OUTPKTS),
    bytesIn: a.u64(IPVS_STATS_ATTR_INBYTES),
    bytesOut: a.u64(IPVS_STATS_ATTR_OUTBYTES),
    cps: a.u32(IPVS_STATS_ATTR_CPS),
    packetsInPerSec: a.u32(IPVS_STATS_ATTR_INPPS),
    packetsOutPerSec: a.u32(IPVS_STATS_ATTR_OUTPPS),
    bytesInPerSec: a.u32(IPVS_STATS_ATTR_INBPS),
    bytesOutPerSec: a.u32(IPVS_STATS_ATTR_OUTBPS),
  };
}

/** Decodes STATS64 when present, else the legacy STATS nest, else zeros. */
export function decodeStatsFrom(parent: Attrs, stats64Type: number, statsType: number, scratch: Attrs, wanted = true): Stats {
  if (!wanted) return NO_STATS;
  if (parent.nested(stats64Type, scratch)) return decodeStats(scratch, true);
  if (parent.nested(statsType, scratch)) return decodeStats(scratch, false);
  return emptyStats();
}
