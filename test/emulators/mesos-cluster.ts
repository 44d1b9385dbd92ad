// A scripted Mesos cluster as the master's operator API shows it: agents
// (registered and recovered), frameworks, tasks with their status history.
// Every mutation returns the event the master streams to SUBSCRIBE clients
// (include/mesos/v1/master/master.proto Event), shaped like the captures in
// test/fixtures/dcos-net. Pure data; mesos-master.ts does the HTTP.

export type Json = Record<string, unknown>;

export interface AgentSpec {
  id: string;
  hostname: string;
  port?: number;
}

export interface FrameworkSpec {
  id: string;
  name: string;
}

export interface DiscoveryPortSpec {
  number: number;
  /** `tcp` (default), `udp`, or `udp,tcp`. */
  protocol?: string;
  name?: string;
  /** VIP label values, keyed VIP_0, VIP_1, ... */
  vips?: string[];
  /** Extra port labels (e.g. `network-scope`). */
  labels?: Record<string, string>;
}

export interface TaskSpec {
  id: string;
  frameworkId: string;
  agentId: string;
  name?: string;
  /** Default TASK_RUNNING. */
  state?: string;
  /** Task IPs reported in the status's container_status.network_infos. */
  ips?: string[];
  ports?: DiscoveryPortSpec[];
  /** Set the status's `healthy`; with `healthCheck` the task has a health_check. */
  healthy?: boolean;
  healthCheck?: boolean;
  /** Task labels (legacy VIP_PORT<n>). */
  labels?: Record<string, string>;
  /** Host ports of the `ports` resource. */
  portResources?: number[];
  containerType?: 'MESOS' | 'DOCKER';
}

export interface StatusUpdate {
  state: string;
  ips?: string[];
  healthy?: boolean;
  /** The event's top-level `state`; defaults to `state` (Mesos can send a newer one). */
  latestState?: string;
}

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

const labelList = (labels: Record<string, string>): Json => ({ labels: Object.entries(labels).map(([key, value]) => ({ key, value })) });

export function agentInfo(a: AgentSpec): Json {
  return { id: { value: a.id }, hostname: a.hostname, port: a.port ?? 5051, resources: [] };
}

export function frameworkInfo(f: FrameworkSpec): Json {
  return { id: { value: f.id }, name: f.name, user: 'root', failover_timeout: 604800, checkpoint: true, hostname: '127.0.0.1' };
}

export class MesosCluster {
  readonly agents = new Map<string, AgentSpec>();
  readonly recoveredAgents = new Map<string, AgentSpec>();
  readonly frameworks = new Map<string, FrameworkSpec>();
  /** `frameworkId/taskId` -> raw v1 Task (non-terminal). */
  readonly tasks = new Map<string, Json>();
  readonly completed: Json[] = [];
  private clock = 1_700_000_000;

  /** A status timestamp, strictly increasing (seconds, as Mesos sends them). */
  tick(): number {
    this.clock += 0.001;
    return Math.round(this.clock * 1000) / 1000;
  }

  getState(): Json {
    return {
      get_tasks: { tasks: [...this.tasks.values()], unreachable_tasks: [], completed_tasks: this.completed.slice(-1000) },
      get_executors: { executors: [], completed_executors: [] },
      get_frameworks: {
        frameworks: [...this.frameworks.values()].map((f) => ({ framework_info: frameworkInfo(f), active: true, connected: true, recovered: false })),
        completed_frameworks: [],
      },
      get_agents: {
        agents: [...this.agents.values()].map((a) => ({ agent_info: agentInfo(a), active: true, version: '1.9.0', pid: `slave(1)@${a.hostname}:${a.port ?? 5051}` })),
        recovered_agents: [...this.recoveredAgents.values()].map(agentInfo),
      },
    };
  }

  subscribed(heartbeatIntervalSeconds: number): Json {
    return { type: 'SUBSCRIBED', subscribed: { get_state: this.getState(), heartbeat_interval_seconds: heartbeatIntervalSeconds } };
  }

  /** Registers an agent (a recovered one re-registers). */
  addAgent(a: AgentSpec): Json {
    this.recoveredAgents.delete(a.id);
    this.agents.set(a.id, a);
    return { type: 'AGENT_ADDED', agent_added: { agent: { agent_info: agentInfo(a), active: true, version: '1.9.0' } } };
  }

  /** An agent known from the registry but not re-registered (after a master failover). */
  addRecoveredAgent(a: AgentSpec): void {
    this.recoveredAgents.set(a.id, a);
  }

  removeAgent(id: string): Json {
    this.agents.delete(id);
    return { type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: id } } };
  }

  addFramework(f: FrameworkSpec): Json {
    const type = this.frameworks.has(f.id) ? 'FRAMEWORK_UPDATED' : 'FRAMEWORK_ADDED';
    this.frameworks.set(f.id, f);
    const key = type === 'FRAMEWORK_ADDED' ? 'framework_added' : 'framework_updated';
    return { type, [key]: { framework: { framework_info: frameworkInfo(f), active: true, connected: true, recovered: false } } };
  }

  removeFramework(id: string): Json {
    const f = this.frameworks.get(id) ?? { id, name: '' };
    this.frameworks.delete(id);
    return { type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: frameworkInfo(f) } };
  }

  /** Launches a task: TASK_ADDED (state TASK_STAGING unless spec.state says otherwise). */
  addTask(spec: TaskSpec): Json {
    const task = mesosTask(spec, this.tick());
    this.tasks.set(`${spec.frameworkId}/${spec.id}`, task);
    return { type: 'TASK_ADDED', task_added: { task } };
  }

  /** A status update: TASK_UPDATED; terminal tasks move to completed. */
  updateTask(frameworkId: string, taskId: string, u: StatusUpdate): Json {
    const key = `${frameworkId}/${taskId}`;
    const task = this.tasks.get(key);
    const agentId = (task?.['agent_id'] as Json | undefined) ?? { value: 'unknown' };
    // Executors repeat the container status in every update: keep the task's IPs.
    const prev = ((task?.['statuses'] as Json[] | undefined) ?? []).at(-1);
    const withIps = u.ips !== undefined || prev?.['container_status'] === undefined ? u : { ...u, ips: ipsOf(prev) };
    const status = mesosStatus(taskId, String((agentId as { value: string }).value), withIps, this.tick());
    const state = u.latestState ?? u.state;
    if (task !== undefined) {
      const next = { ...task, state, statuses: [...((task['statuses'] as Json[] | undefined) ?? []), status].slice(-10) };
      if (TERMINAL.has(state)) {
        this.tasks.delete(key);
        this.completed.push(next);
      } else {
        this.tasks.set(key, next);
      }
    }
    return { type: 'TASK_UPDATED', task_updated: { framework_id: { value: frameworkId }, status, state } };
  }
}

function ipsOf(status: Json): string[] {
  const infos = (status['container_status'] as { network_infos?: Array<{ ip_addresses?: Array<{ ip_address?: string }> }> }).network_infos ?? [];
  return infos.flatMap((ni) => (ni.ip_addresses ?? []).map((a) => a.ip_address ?? '')).filter((ip) => ip !== '');
}

export function mesosStatus(taskId: string, agentId: string, u: StatusUpdate, timestamp: number): Json {
  const status: Json = {
    task_id: { value: taskId },
    state: u.state,
    source: 'SOURCE_EXECUTOR',
    agent_id: { value: agentId },
    timestamp,
    uuid: Buffer.from(`${taskId}:${timestamp}`).toString('base64'),
  };
  if (u.ips !== undefined) {
    status['container_status'] = { network_infos: [{ ip_addresses: u.ips.map((ip) => ({ ip_address: ip, protocol: ip.includes(':') ? 'IPv6' : 'IPv4' })) }] };
  }
  if (u.healthy !== undefined) status['healthy'] = u.healthy;
  return status;
}

/** A v1 Task as the operator API shows it, with one status. */
export function mesosTask(spec: TaskSpec, timestamp: number): Json {
  const state = spec.state ?? 'TASK_RUNNING';
  const ports = (spec.ports ?? []).map((p) => {
    const labels: Record<string, string> = { ...p.labels };
    (p.vips ?? []).forEach((v, i) => (labels[`VIP_${i}`] = v));
    return { number: p.number, protocol: p.protocol ?? 'tcp', ...(p.name !== undefined && { name: p.name }), labels: labelList(labels) };
  });
  const task: Json = {
    name: spec.name ?? spec.id,
    task_id: { value: spec.id },
    framework_id: { value: spec.frameworkId },
    agent_id: { value: spec.agentId },
    state,
    resources: [
      { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } },
      ...(spec.portResources !== undefined
        ? [{ name: 'ports', type: 'RANGES', ranges: { range: spec.portResources.map((p) => ({ begin: p, end: p })) } }]
        : []),
    ],
    statuses: [mesosStatus(spec.id, spec.agentId, { state, ...(spec.ips !== undefined && { ips: spec.ips }), ...(spec.healthy !== undefined && { healthy: spec.healthy }) }, timestamp)],
    discovery: { visibility: 'FRAMEWORK', name: spec.name ?? spec.id, ports: { ports } },
    container: { type: spec.containerType ?? 'MESOS' },
  };
  if (spec.labels !== undefined) task['labels'] = labelList(spec.labels);
  if (spec.healthCheck === true) task['health_check'] = { type: 'HTTP', http: { port: ports[0]?.number ?? 80, path: '/' } };
  return task;
}
