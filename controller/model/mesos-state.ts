// Pure fold of Mesos operator API data (a GET_STATE reply, or a SUBSCRIBE
// stream's decoded records) into raw tasks plus the agent and framework names
// they refer to; then normalized Tasks via parseMesosTask. The Mesos source
// owns the connection and RecordIO; this file only folds decoded JSON.
//
// Like dcos-net (L:235-510): TASK_UPDATED's top-level `state` is the task's
// state; a task waits ("held") until its agent and framework are known;
// recovered agents are not agents until AGENT_ADDED; terminal tasks leave.
// Unlike dcos-net, a TASK_UPDATED status is appended to the raw task's
// `statuses` and the whole task is re-parsed, so a parse never depends on
// which fields an earlier event happened to carry.

import { arr, isObject, obj, str, type JsonObject } from './json.js';
import { parseIpv4 } from './ip.js';
import { mesosTaskId, mesosTaskState, newestStatus, parseMesosTask } from './mesos-task.js';
import type { Task } from './types.js';

/**
 * A raw task as the snapshot keeps it: slimmed (slimTask) and as JSON text,
 * which takes half the memory of the object tree (10,000 tasks of 10 IPs:
 * 10.8 MB against 20.7 MB); parsed again only when the task is re-read. The
 * ids the fold looks tasks up by stay outside the text.
 */
export interface KeptTask {
  agentId: string | undefined;
  frameworkId: string | undefined;
  json: string;
}

export interface MesosSnapshot {
  /** agent id -> agent_info.hostname */
  agents: Map<string, string | undefined>;
  /** framework id -> framework_info.name */
  frameworks: Map<string, string | undefined>;
  /** `frameworkId/taskId` -> raw task, statuses merged in */
  tasks: Map<string, KeptTask>;
}

/** A task of the snapshot as raw JSON (slimmed), or undefined. */
export function rawTask(snap: MesosSnapshot, id: string): JsonObject | undefined {
  const kept = snap.tasks.get(id);
  return kept === undefined ? undefined : (JSON.parse(kept.json) as JsonObject);
}

export function emptySnapshot(): MesosSnapshot {
  return { agents: new Map(), frameworks: new Map(), tasks: new Map() };
}

function addAgent(snap: MesosSnapshot, agent: unknown): string | undefined {
  const id = str(agent, 'agent_info', 'id', 'value');
  if (id !== undefined) snap.agents.set(id, str(agent, 'agent_info', 'hostname'));
  return id;
}

function addFramework(snap: MesosSnapshot, framework: unknown): string | undefined {
  const id = str(framework, 'framework_info', 'id', 'value');
  if (id !== undefined) snap.frameworks.set(id, str(framework, 'framework_info', 'name'));
  return id;
}

// The parts of a raw task that parseMesosTask and this fold read. Everything
// else (command, executor, health check definitions, non-port resources, old
// statuses) is dropped on the way in: a real task is several KB of JSON and a
// node keeps every task of the cluster.
const TASK_FIELDS = ['task_id', 'framework_id', 'agent_id', 'name', 'state', 'container', 'discovery', 'labels', 'health_check'] as const;
const STATUS_FIELDS = ['task_id', 'agent_id', 'state', 'timestamp', 'healthy', 'container_status'] as const;

function pick(o: JsonObject, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (o[f] !== undefined) out[f] = o[f];
  return out;
}

/** A raw task reduced to what is ever read: its fields above, port resources, the newest status. */
export function slimTask(raw: JsonObject): JsonObject {
  const out = pick(raw, TASK_FIELDS);
  if (Array.isArray(raw['resources'])) out['resources'] = raw['resources'].filter((r) => str(r, 'name') === 'ports');
  if (Array.isArray(raw['statuses'])) {
    const newest = newestStatus(raw);
    out['statuses'] = Object.keys(newest).length > 0 ? [pick(newest, STATUS_FIELDS)] : [];
  }
  return out;
}

/**
 * Stores a raw task (slimmed) under its id, or drops it when terminal;
 * returns its id. Not an object, or no id: ignored. The Mesos source calls
 * this per task while it parses a SUBSCRIBED record, so a snapshot's tasks
 * never exist as one object tree.
 */
export function keepTask(tasks: Map<string, KeptTask>, raw: unknown): string | undefined {
  if (!isObject(raw)) return undefined;
  const id = mesosTaskId(raw);
  if (id === undefined) return undefined;
  if (mesosTaskState(str(raw, 'state')) === 'terminal') tasks.delete(id);
  else tasks.set(id, { agentId: str(raw, 'agent_id', 'value'), frameworkId: str(raw, 'framework_id', 'value'), json: JSON.stringify(slimTask(raw)) });
  return id;
}

/**
 * A GET_STATE reply (`{type, get_state}`), a bare `get_state` object, or
 * SUBSCRIBED's `get_state`. Master replies list `get_tasks.tasks`, agent
 * replies `launched_tasks` (with `get_agents` added from GET_AGENT).
 * `kept`: tasks already taken out of that list (keepTask); the snapshot
 * takes the map over and adds what the list still holds.
 */
export function snapshotFromState(reply: unknown, kept?: Map<string, KeptTask>): MesosSnapshot {
  const state = obj(reply, 'get_state') ?? (isObject(reply) ? reply : {});
  const snap = emptySnapshot();
  if (kept !== undefined) snap.tasks = kept;
  for (const a of arr(state, 'get_agents', 'agents')) addAgent(snap, a);
  for (const f of arr(state, 'get_frameworks', 'frameworks')) addFramework(snap, f);
  // dcos-net: `tasks` when the key is there, else the agent's `launched_tasks`.
  const getTasks = obj(state, 'get_tasks');
  const list = getTasks !== undefined && 'tasks' in getTasks ? arr(getTasks, 'tasks') : arr(getTasks, 'launched_tasks');
  for (const t of list) keepTask(snap.tasks, t);
  return snap;
}

export type MesosEventEffect =
  | { kind: 'reset' }
  | { kind: 'tasks'; taskIds: string[] }
  | { kind: 'none' };

function tasksWhere(snap: MesosSnapshot, field: 'agentId' | 'frameworkId', id: string): string[] {
  const out: string[] = [];
  for (const [key, kept] of snap.tasks) if (kept[field] === id) out.push(key);
  return out;
}

/**
 * Fold one decoded operator API event into the snapshot (in place) and say
 * what to re-parse: everything (`reset`, after SUBSCRIBED) or some task ids
 * (removed ones included, so the caller can drop them from the table).
 * Agent/framework removals keep the names: dcos-net keeps a task's resolved
 * names, and the tasks' own terminal updates follow.
 */
export function applyMesosEvent(snap: MesosSnapshot, event: unknown, kept?: Map<string, KeptTask>): MesosEventEffect {
  switch (str(event, 'type')) {
    case 'SUBSCRIBED': {
      // `kept`: the tasks the source took out of this record while parsing it (snapshotFromState).
      const fresh = snapshotFromState(obj(event, 'subscribed', 'get_state') ?? {}, kept);
      snap.agents = fresh.agents;
      snap.frameworks = fresh.frameworks;
      snap.tasks = fresh.tasks;
      return { kind: 'reset' };
    }
    case 'TASK_ADDED': {
      const raw = obj(event, 'task_added', 'task');
      const id = raw === undefined ? undefined : keepTask(snap.tasks, raw);
      return id === undefined ? { kind: 'none' } : { kind: 'tasks', taskIds: [id] };
    }
    case 'TASK_UPDATED': {
      const status = obj(event, 'task_updated', 'status');
      const fw = obj(event, 'task_updated', 'framework_id');
      const taskId = obj(status, 'task_id');
      const fwId = str(fw, 'value');
      const tId = str(taskId, 'value');
      if (status === undefined || fwId === undefined || tId === undefined) return { kind: 'none' };
      const id = `${fwId}/${tId}`;
      const prev = rawTask(snap, id) ?? { task_id: taskId, framework_id: fw, agent_id: status['agent_id'] };
      const statuses = Array.isArray(prev['statuses']) ? prev['statuses'] : [];
      const state = str(event, 'task_updated', 'state') ?? str(status, 'state');
      // Only the newest status (by timestamp) is ever read, so only it is kept:
      // a task whose health flaps for weeks must not grow without bound.
      const merged = [...statuses, status];
      const newest = newestStatus({ statuses: merged });
      const kept = Object.keys(newest).length > 0 ? [newest] : merged.slice(-1);
      keepTask(snap.tasks, { ...prev, statuses: kept, ...(state !== undefined && { state }) });
      return { kind: 'tasks', taskIds: [id] };
    }
    case 'AGENT_ADDED': {
      const id = addAgent(snap, obj(event, 'agent_added', 'agent'));
      return id === undefined ? { kind: 'none' } : { kind: 'tasks', taskIds: tasksWhere(snap, 'agentId', id) };
    }
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED': {
      const key = str(event, 'type') === 'FRAMEWORK_ADDED' ? 'framework_added' : 'framework_updated';
      const id = addFramework(snap, obj(event, key, 'framework'));
      return id === undefined ? { kind: 'none' } : { kind: 'tasks', taskIds: tasksWhere(snap, 'frameworkId', id) };
    }
    default:
      return { kind: 'none' }; // HEARTBEAT, *_REMOVED, unknown types
  }
}

export interface MesosTasksOptions {
  source: string;
  /**
   * hostname -> IP, filled by the caller from DNS beforehand (dcos-net takes
   * the first IPv4). Default: the hostname itself when it is an IPv4 literal.
   */
  resolveAgent?: (hostname: string) => string | undefined;
}

export type HeldReason = 'unknown_agent' | 'unresolved_agent' | 'unknown_framework' | 'malformed';

export interface HeldTask {
  id: string;
  reason: HeldReason;
  message: string;
}

export type MesosTaskOutcome = { ok: true; task: Task } | { ok: false; held: HeldTask };

const defaultResolve = (hostname: string): string | undefined =>
  parseIpv4(hostname) === undefined ? undefined : hostname;

/** Normalize one task of the snapshot, or say why it is held back. */
export function snapshotTask(snap: MesosSnapshot, id: string, opts: MesosTasksOptions): MesosTaskOutcome | undefined {
  const raw = rawTask(snap, id);
  if (raw === undefined) return undefined;
  const held = (reason: HeldReason, message: string): MesosTaskOutcome => ({ ok: false, held: { id, reason, message } });
  const agentId = str(raw, 'agent_id', 'value');
  if (agentId === undefined || !snap.agents.has(agentId)) return held('unknown_agent', `agent ${agentId} not seen yet`);
  const hostname = snap.agents.get(agentId);
  const agentIp = hostname === undefined ? undefined : (opts.resolveAgent ?? defaultResolve)(hostname);
  if (agentIp === undefined) return held('unresolved_agent', `agent hostname ${hostname} has no IP`);
  const fwId = str(raw, 'framework_id', 'value') ?? '';
  const frameworkName = snap.frameworks.get(fwId);
  if (frameworkName === undefined) return held('unknown_framework', `framework ${fwId} not seen yet`);
  const r = parseMesosTask(raw, { source: opts.source, frameworkName, agentIp });
  return r.ok ? { ok: true, task: r.task } : held('malformed', r.message);
}

/** All tasks of the snapshot: normalized ones, and those held back. */
export function snapshotTasks(snap: MesosSnapshot, opts: MesosTasksOptions): { tasks: Task[]; held: HeldTask[] } {
  const tasks: Task[] = [];
  const held: HeldTask[] = [];
  for (const id of [...snap.tasks.keys()].sort()) {
    const r = snapshotTask(snap, id, opts);
    if (r === undefined) continue;
    if (r.ok) tasks.push(r.task);
    else held.push(r.held);
  }
  return { tasks, held };
}
