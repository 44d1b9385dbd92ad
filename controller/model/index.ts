// The pure VIP model: tasks in, the desired VIP table out. No I/O.
// Everything outside controller/model imports from here only.

export type {
  Backend, BackendHealth, Family, LabelRejection, ModelOptions, NameAddress, Protocol,
  RejectionCode, Runtime, Task, TaskPort, TaskRef, TaskState, UnallocatedName, Vip, VipLabel,
} from './types.js';
export { ModelError, type ModelErrorCode } from './errors.js';

export { VipTable, type ChangeSummary, type TableBatch } from './table.js';
export { DEFAULT_OPTIONS, resolveOptions, type Pool, type ResolvedOptions } from './options.js';

export {
  isVipLabelKey, parseLegacyLabel, parseNetworkScope, parsePort, parseProtocols, parseVipValue,
  type LabelError, type LegacyLabel, type NetworkScope, type VipTarget,
} from './labels.js';
export {
  IPVS_SCHEDULERS, SCHEDULER_LABEL, electScheduler, isIpvsScheduler, parseScheduler, schedulerFromLabels,
  type Election, type IpvsScheduler, type SchedulerParse, type SchedulerVote,
} from './scheduler.js';
export { L4LB_ZONE, domainFrag, fqdnOf, hashName, toName } from './naming.js';
export { homeOffset, phash2, phash2String, sha1Mod } from './hash.js';
export { formatIp, hostPort, ipFamily, parseIp, type ParsedIp } from './ip.js';

export {
  TERMINAL_STATES, mesosTaskId, mesosTaskState, newestStatus, parseMesosTask,
  type MesosTaskContext, type MesosTaskResult,
} from './mesos-task.js';
export {
  applyMesosEvent, emptySnapshot, keepTask, snapshotFromState, snapshotTask, snapshotTasks,
  type HeldReason, type HeldTask, type KeptTask, type MesosEventEffect, type MesosSnapshot, type MesosTaskOutcome,
  type MesosTasksOptions,
} from './mesos-state.js';
export { isObject, at, str, num, arr, obj, labelList, type JsonObject } from './json.js';
