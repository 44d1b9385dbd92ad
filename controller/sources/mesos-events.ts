// Pure checks on decoded operator API events before they reach the model's
// state machine: is the record the shape its type promises, which agent
// hostnames it brings, which agents a SUBSCRIBED lists as recovered.

import { arr, at, isObject, num, str } from './json.js';

/** Event types of the master's SUBSCRIBE stream that l4lb folds (master.proto Event.Type). */
export const MESOS_EVENT_TYPES: ReadonlySet<string> = new Set([
  'SUBSCRIBED', 'HEARTBEAT', 'TASK_ADDED', 'TASK_UPDATED', 'AGENT_ADDED', 'AGENT_REMOVED',
  'FRAMEWORK_ADDED', 'FRAMEWORK_UPDATED', 'FRAMEWORK_REMOVED',
]);

/**
 * Why a decoded record cannot be folded, or undefined when it can. Unknown
 * types are fine here (the caller skips them); known types must carry the
 * ids the fold needs, with the JSON types the proto gives them.
 */
export function eventShapeProblem(ev: unknown): string | undefined {
  if (!isObject(ev)) return 'record is not a JSON object';
  const type = ev['type'];
  if (typeof type !== 'string') return 'record has no string "type"';
  const need = (ok: boolean, what: string): string | undefined => (ok ? undefined : `${type} record without ${what}`);
  const isStr = (...path: string[]): boolean => str(ev, ...path) !== undefined;
  switch (type) {
    case 'SUBSCRIBED': {
      const hb = at(ev, 'subscribed', 'heartbeat_interval_seconds');
      return need(isObject(at(ev, 'subscribed')), 'a "subscribed" object') ??
        need(at(ev, 'subscribed', 'get_state') === undefined || isObject(at(ev, 'subscribed', 'get_state')), 'an object "get_state"') ??
        need(hb === undefined || (num(ev, 'subscribed', 'heartbeat_interval_seconds') ?? 0) > 0, 'a positive number heartbeat_interval_seconds');
    }
    case 'TASK_ADDED':
      return need(isStr('task_added', 'task', 'task_id', 'value') && isStr('task_added', 'task', 'framework_id', 'value'),
        'task_added.task.task_id.value and framework_id.value strings');
    case 'TASK_UPDATED':
      return need(isStr('task_updated', 'framework_id', 'value') && isStr('task_updated', 'status', 'task_id', 'value'),
        'task_updated.framework_id.value and status.task_id.value strings') ??
        need(at(ev, 'task_updated', 'state') === undefined || isStr('task_updated', 'state'), 'a string task_updated.state');
    case 'AGENT_ADDED':
      return need(isStr('agent_added', 'agent', 'agent_info', 'id', 'value'), 'agent_added.agent.agent_info.id.value string') ??
        need(at(ev, 'agent_added', 'agent', 'agent_info', 'hostname') === undefined || isStr('agent_added', 'agent', 'agent_info', 'hostname'),
          'a string agent_info.hostname');
    case 'AGENT_REMOVED':
      return need(isStr('agent_removed', 'agent_id', 'value'), 'agent_removed.agent_id.value string');
    case 'FRAMEWORK_ADDED':
      return need(isStr('framework_added', 'framework', 'framework_info', 'id', 'value'), 'framework_added.framework.framework_info.id.value string');
    case 'FRAMEWORK_UPDATED':
      return need(isStr('framework_updated', 'framework', 'framework_info', 'id', 'value'), 'framework_updated.framework.framework_info.id.value string');
    case 'FRAMEWORK_REMOVED':
      return need(isStr('framework_removed', 'framework_info', 'id', 'value'), 'framework_removed.framework_info.id.value string');
    default:
      return undefined;
  }
}

/** Agent hostnames an event introduces (SUBSCRIBED's agents, AGENT_ADDED's agent). */
export function agentHostnames(ev: unknown): string[] {
  const type = str(ev, 'type');
  if (type === 'SUBSCRIBED') {
    const out: string[] = [];
    for (const a of arr(ev, 'subscribed', 'get_state', 'get_agents', 'agents')) {
      const h = str(a, 'agent_info', 'hostname');
      if (h !== undefined) out.push(h);
    }
    return out;
  }
  if (type === 'AGENT_ADDED') {
    const h = str(ev, 'agent_added', 'agent', 'agent_info', 'hostname');
    return h === undefined ? [] : [h];
  }
  return [];
}

/** Ids of SUBSCRIBED's recovered agents that are not also registered agents. */
export function recoveredAgentIds(ev: unknown): string[] {
  const registered = new Set<string>();
  for (const a of arr(ev, 'subscribed', 'get_state', 'get_agents', 'agents')) {
    const id = str(a, 'agent_info', 'id', 'value');
    if (id !== undefined) registered.add(id);
  }
  const out: string[] = [];
  for (const a of arr(ev, 'subscribed', 'get_state', 'get_agents', 'recovered_agents')) {
    const id = str(a, 'id', 'value');
    if (id !== undefined && !registered.has(id)) out.push(id);
  }
  return out;
}

/** A short description of an event for debug lines: type plus the ids it names. */
export function describeEvent(ev: unknown): Record<string, unknown> {
  const type = str(ev, 'type') ?? '?';
  switch (type) {
    case 'TASK_ADDED':
      return { type, task: str(ev, 'task_added', 'task', 'task_id', 'value'), state: str(ev, 'task_added', 'task', 'state') };
    case 'TASK_UPDATED':
      return { type, task: str(ev, 'task_updated', 'status', 'task_id', 'value'), state: str(ev, 'task_updated', 'state') };
    case 'AGENT_ADDED':
      return { type, agent: str(ev, 'agent_added', 'agent', 'agent_info', 'id', 'value'), hostname: str(ev, 'agent_added', 'agent', 'agent_info', 'hostname') };
    case 'AGENT_REMOVED':
      return { type, agent: str(ev, 'agent_removed', 'agent_id', 'value') };
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED': {
      const key = type === 'FRAMEWORK_ADDED' ? 'framework_added' : 'framework_updated';
      return { type, framework: str(ev, key, 'framework', 'framework_info', 'id', 'value'), name: str(ev, key, 'framework', 'framework_info', 'name') };
    }
    case 'FRAMEWORK_REMOVED':
      return { type, framework: str(ev, 'framework_removed', 'framework_info', 'id', 'value') };
    default:
      return { type };
  }
}
