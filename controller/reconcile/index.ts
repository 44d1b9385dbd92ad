// The door to controller/reconcile: desired VIP table -> kernel IPVS state.
export { plan, countOps, DEFAULT_PLAN_CONFIG, type Plan, type PlanConfig, type PlanContext, type PlanEvent, type PlanEventKind, type VipPlan, type OwnershipView } from './plan.js';
export { DrainState, decideUndesired, type DrainUpdate, type DrainVerdict, type DrainView, type UndesiredDestination } from './drain.js';
export {
  Ownership, FileOwnershipStore, MemoryOwnershipStore, kernelIdentity, DEFAULT_OWNERSHIP_PATH,
  type OwnershipLoad, type OwnershipStore, type FileOwnershipStoreOptions,
} from './ownership.js';
export { WorkQueue, type BackoffOptions, type QueueReason } from './queue.js';
export { Reconciler, type ReconcilerOptions } from './loop.js';
export { passLogFields, type DesiredTable, type Kernel, type PassError, type PassResult, type PassTrigger, type ReconcileHooks, type Timers } from './pass.js';
export { ReconcileError, canonicalKey, keyOfService, serviceKeyOf, serviceOfVip, type ReconcileErrorCode } from './keys.js';
