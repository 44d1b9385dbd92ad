// The diff, PURE: desired VIPs + the kernel's actual services -> the minimal
// ordered batch of IPVS operations, grouped per VIP so a failed operation maps
// back to its VIP. No clock, no I/O, no logging: data in, data out.
//
// Rules (see README.md):
// - In sync -> zero ops (and no group at all).
// - Scheduler (the VIP's own, else the configured one), flags and
//   destination weights/forwarding are edited IN PLACE,
//   never delete+add (the kernel's dest trash makes re-adds slow, and a
//   delete drops the destination's connections).
// - Per VIP: service add/edit first, then destination adds and edits, then
//   destination deletes (a VIP whose backends are all replaced never has a
//   moment with none).
// - A destination that left the desired set drains (drain.ts).
// - A kernel service that is not desired is deleted only if owned; a desired
//   service already in the kernel but not owned is adopted (claimed, then
//   converged). Foreign services that are not desired are never touched.

import {
  destinationKeyId,
  formatDestinationKey,
  makeDestination,
  type Destination,
  type DestinationEntry,
  type IpvsOp,
  type Service,
  type ServiceWithDestinations,
} from '../../native/ipvs/index.js';
import type { Vip } from '../model/index.js';
import { decideUndesired, type DrainUpdate, type DrainView } from './drain.js';
import { keyOfService, serviceOfVip } from './keys.js';

/** Which services l4lb may touch (ownership.ts implements it). */
export interface OwnershipView {
  isOwned(vipKey: string): boolean;
}

export interface PlanConfig {
  /** IPVS scheduler of every VIP that names none itself (`Vip.scheduler`); DC/OS: wlc. */
  scheduler: string;
  /** A draining TCP destination is deleted after this long even with connections left. */
  drainTimeoutMs: number;
  /** Forwarding method of every destination; only masquerading is supported. */
  forward: 'masq';
}

export const DEFAULT_PLAN_CONFIG: PlanConfig = Object.freeze({
  scheduler: 'wlc',
  drainTimeoutMs: 5 * 60_000,
  forward: 'masq',
});

export interface PlanContext {
  owned: OwnershipView;
  drains: DrainView;
  now: number;
  config: PlanConfig;
}

/** What a pass did or will do, one per change; for logs, metrics and tests. */
export type PlanEvent =
  | { kind: 'service-added'; vip: string; scheduler: string }
  | { kind: 'service-edited'; vip: string; scheduler: string; was: string }
  | { kind: 'service-deleted'; vip: string }
  | { kind: 'adopted'; vip: string }
  | { kind: 'added'; vip: string; destination: string; weight: number }
  | { kind: 'weight-changed'; vip: string; destination: string; weight: number; was: number }
  | { kind: 'weight-restored'; vip: string; destination: string; weight: number; drainedMs: number }
  | { kind: 'destination-edited'; vip: string; destination: string }
  | { kind: 'drained'; vip: string; destination: string; connections: number }
  | { kind: 'deleted'; vip: string; destination: string; reason: 'datagram' | 'idle' | 'timeout' };

export type PlanEventKind = PlanEvent['kind'];

/** Everything planned for one VIP. */
export interface VipPlan {
  key: string;
  ops: IpvsOp[];
  events: PlanEvent[];
  /** The service will be created or adopted: record ownership BEFORE applying. */
  claim: boolean;
  /** The service is deleted: run the removal hook before, prune the record after. */
  remove: boolean;
  /** The service is created or adopted: run the add hook after a successful apply. */
  add: boolean;
  /** Drain state changes, applied by the caller once the ops succeeded. */
  drainUpdates: DrainUpdate[];
  /** Earliest drain timeout among the VIP's draining destinations; undefined when none drains. */
  drainDeadline?: number;
}

export interface Plan {
  /** Only VIPs with something to do, sorted by key. */
  groups: VipPlan[];
  /** All ops in apply order (the groups' ops concatenated). */
  ops: IpvsOp[];
  /** The VIP key of each op in `ops`: maps a failed op back to its VIP. */
  opKeys: string[];
  /** Kernel services seen that are neither desired nor owned (left alone). */
  foreign: string[];
}

/**
 * Plans the VIPs present in `desired` or `actual` (a full table or any per-key
 * subset: pass the kernel state of exactly the keys you pass desired for, and
 * an owned key that is missing from `desired` is deleted).
 */
export function plan(desired: readonly Vip[], actual: readonly ServiceWithDestinations[], ctx: PlanContext): Plan {
  const want = new Map<string, Vip>();
  for (const v of desired) want.set(v.key, v);
  const have = new Map<string, ServiceWithDestinations>();
  const foreign: string[] = [];
  for (const s of actual) {
    const key = keyOfService(s);
    if (key === undefined) continue; // fwmark/SCTP: never ours, not even reported
    have.set(key, s);
  }
  const keys = [...new Set([...want.keys(), ...have.keys()])].sort();
  const groups: VipPlan[] = [];
  for (const key of keys) {
    const vip = want.get(key);
    const svc = have.get(key);
    let g: VipPlan | undefined;
    if (vip) g = planDesired(key, vip, svc, ctx);
    else if (svc && ctx.owned.isOwned(key)) g = planRemoval(key, svc);
    else if (svc) foreign.push(key);
    if (g && (g.ops.length > 0 || g.claim || g.drainUpdates.length > 0 || g.drainDeadline !== undefined)) groups.push(g);
  }
  const ops: IpvsOp[] = [];
  const opKeys: string[] = [];
  for (const g of groups) {
    for (const op of g.ops) {
      ops.push(op);
      opKeys.push(g.key);
    }
  }
  return { groups, ops, opKeys, foreign };
}

function emptyGroup(key: string): VipPlan {
  return { key, ops: [], events: [], claim: false, remove: false, add: false, drainUpdates: [] };
}

function planRemoval(key: string, svc: ServiceWithDestinations): VipPlan {
  const g = emptyGroup(key);
  g.ops.push({ kind: 'delete-service', service: svc });
  g.events.push({ kind: 'service-deleted', vip: key });
  g.remove = true;
  return g;
}

function serviceDiffers(a: Service, b: Service): boolean {
  return a.scheduler !== b.scheduler || a.flags !== b.flags || a.timeout !== b.timeout || a.netmask !== b.netmask || a.pe !== b.pe;
}

function destinationDiffers(want: Destination, have: DestinationEntry): boolean {
  return (
    want.weight !== have.weight ||
    want.forward !== have.forward ||
    want.upperThreshold !== have.upperThreshold ||
    want.lowerThreshold !== have.lowerThreshold
  );
}

function planDesired(key: string, vip: Vip, svc: ServiceWithDestinations | undefined, ctx: PlanContext): VipPlan {
  const g = emptyGroup(key);
  const { config, drains, now } = ctx;
  const scheduler = vip.scheduler ?? config.scheduler;
  const service = serviceOfVip(vip, scheduler);
  const owned = ctx.owned.isOwned(key);

  if (!svc) {
    g.ops.push({ kind: 'add-service', service });
    g.events.push({ kind: 'service-added', vip: key, scheduler });
    g.claim = !owned;
    g.add = true;
  } else {
    if (!owned) {
      g.claim = true;
      g.add = true;
      g.events.push({ kind: 'adopted', vip: key });
    }
    if (serviceDiffers(service, svc)) {
      g.ops.push({ kind: 'edit-service', service });
      g.events.push({ kind: 'service-edited', vip: key, scheduler, was: svc.scheduler });
    }
  }

  // Destinations: adds and edits first, deletes last.
  const current = new Map<string, DestinationEntry>();
  for (const d of svc?.destinations ?? []) current.set(destinationKeyId(d), d);
  const wanted = new Set<string>();
  const deletes: IpvsOp[] = [];
  for (const b of vip.backends) {
    const dest = makeDestination({ address: b.ip, port: b.port, weight: b.weight, forward: config.forward });
    const id = destinationKeyId(dest);
    if (wanted.has(id)) continue;
    wanted.add(id);
    const drainStart = drains.startedAt(key, id);
    if (drainStart !== undefined) g.drainUpdates.push({ vip: key, dest: id });
    const have = current.get(id);
    if (!have) {
      g.ops.push({ kind: 'add-destination', service, destination: dest });
      g.events.push({ kind: 'added', vip: key, destination: formatDestinationKey(dest), weight: dest.weight });
      continue;
    }
    if (!destinationDiffers(dest, have)) continue;
    g.ops.push({ kind: 'edit-destination', service, destination: dest });
    const name = formatDestinationKey(dest);
    if (have.weight !== dest.weight) {
      g.events.push(
        drainStart !== undefined && have.weight === 0
          ? { kind: 'weight-restored', vip: key, destination: name, weight: dest.weight, drainedMs: now - drainStart }
          : { kind: 'weight-changed', vip: key, destination: name, weight: dest.weight, was: have.weight },
      );
    } else {
      g.events.push({ kind: 'destination-edited', vip: key, destination: name });
    }
  }

  for (const [id, have] of current) {
    if (wanted.has(id)) continue;
    const name = formatDestinationKey(have);
    const startedAt = drains.startedAt(key, id);
    const v = decideUndesired({ ...have, protocol: service.protocol, startedAt }, now, config.drainTimeoutMs);
    if (v.action === 'delete') {
      deletes.push({ kind: 'delete-destination', service, destination: { family: have.family, address: have.address, port: have.port } });
      g.events.push({ kind: 'deleted', vip: key, destination: name, reason: v.reason });
      if (startedAt !== undefined) g.drainUpdates.push({ vip: key, dest: id });
      continue;
    }
    if (startedAt === undefined) g.drainUpdates.push({ vip: key, dest: id, startedAt: v.startedAt });
    if (have.weight !== 0) {
      g.ops.push({ kind: 'edit-destination', service, destination: { ...stripCounters(have), weight: 0 } });
      g.events.push({ kind: 'drained', vip: key, destination: name, connections: have.activeConnections + have.inactiveConnections });
    }
    g.drainDeadline = Math.min(g.drainDeadline ?? Infinity, v.deadline);
  }
  g.ops.push(...deletes);

  // Drain entries of destinations that are gone from the kernel (someone ran `ipvsadm -d`).
  for (const [id] of drains.entries(key)) {
    if (!current.has(id) && !wanted.has(id)) g.drainUpdates.push({ vip: key, dest: id });
  }
  return g;
}

/** A dumped destination as a writable one (the kernel ignores counters, but keep ops clean). */
function stripCounters(d: DestinationEntry): Destination {
  return {
    family: d.family,
    address: d.address,
    port: d.port,
    forward: d.forward,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    tunnelType: d.tunnelType,
    tunnelPort: d.tunnelPort,
    tunnelFlags: d.tunnelFlags,
  };
}

/** Ops counted by kind, every kind present (zeros included), for the pass log line. */
export function countOps(ops: readonly IpvsOp[]): Record<IpvsOp['kind'], number> {
  const out: Record<IpvsOp['kind'], number> = {
    'add-service': 0,
    'edit-service': 0,
    'delete-service': 0,
    'add-destination': 0,
    'edit-destination': 0,
    'delete-destination': 0,
  };
  for (const op of ops) out[op.kind]++;
  return out;
}
