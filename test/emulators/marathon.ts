// Marathon's REST API and event stream on loopback, faithful at the wire:
// `GET /v2/apps?embed=apps.tasks`, `/v2/apps/{id}?embed=app.tasks`,
// `/v2/apps/{id}/tasks`, `/v2/tasks[?status=running]`, and `GET /v2/events`
// (Accept: text/event-stream; repeated `event_type=` filters; first
// `event_stream_attached`; a bare CRLF keep-alive on idle streams, as the
// Jetty EventSourceServlet Marathon runs on). Mutations emit the events
// Marathon does (core/event/Events.scala), with its fields:
//   deployApp: api_post_event, deployment_info, per task status_update_event
//     TASK_STAGING/TASK_RUNNING + instance_changed_event, deployment_success
//   scaleApp, killTask: status_update_event TASK_KILLING/TASK_KILLED + instance_changed_event
//   setHealth: health_status_changed_event; removeApp: kills, app_terminated_event
// Faults: error statuses, stalls (server.ts), dropped/ended streams, silence,
// malformed event data, raw bytes.

import type http from 'node:http';
import { encodeSse } from '../../controller/sources/sse.js';
import { EmulatorServer, type EmulatorServerOptions, type RecordedRequest } from './server.js';

export type Json = Record<string, unknown>;

export interface MarathonAgent {
  id: string;
  /** What tasks report as `host` (a hostname or an IP). */
  host: string;
  /** The agent's IP (task ipAddresses under host networking). */
  ip: string;
  /**
   * Addresses a task on a container (not bridge) network gets on this agent,
   * handed out in turn (IPv4 or IPv6, e.g. a `dcos6` overlay); default: one
   * from 9.0.0.0/16 per task.
   */
  containerIps?: string[];
}

export interface MarathonOptions extends EmulatorServerOptions {
  /** Keep-alive period on event streams, seconds (Jetty default 10). */
  heartbeatIntervalSeconds?: number;
  agents?: MarathonAgent[];
}

interface AppState {
  app: Json;
  tasks: Map<string, Json>;
}

interface Stream {
  res: http.ServerResponse;
  filter: Set<string>;
  heartbeat: NodeJS.Timeout;
}

const now = (): string => new Date().toISOString();

export class MarathonEmulator extends EmulatorServer {
  readonly apps = new Map<string, AppState>();
  readonly agents: MarathonAgent[];
  private readonly heartbeatS: number;
  private readonly streams = new Set<Stream>();
  private silent = false;
  private nextHostPort = 31000;
  private nextInstance = 1;
  private nextIp = 2;
  private nextAgent = 0;

  private constructor(opts: MarathonOptions) {
    super(opts);
    this.heartbeatS = opts.heartbeatIntervalSeconds ?? 10;
    this.agents = opts.agents ?? [{ id: 'agent-1', host: '10.0.1.1', ip: '10.0.1.1' }];
  }

  static async start(opts: MarathonOptions = {}): Promise<MarathonEmulator> {
    const m = new MarathonEmulator(opts);
    await m.listen();
    return m;
  }

  /** Open event streams. */
  get subscribers(): number {
    return this.streams.size;
  }

  async waitForSubscribers(n = 1, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.streams.size < n) {
      if (Date.now() > deadline) throw new Error(`marathon emulator: ${this.streams.size} of ${n} event streams after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // --- cluster mutations -----------------------------------------------------

  /** Creates or replaces an app and starts `instances` running tasks (default 1). */
  deployApp(definition: Json, opts: { healthy?: boolean } = {}): Json[] {
    const id = String(definition['id']);
    const app: Json = { instances: 1, ...definition, version: now() };
    const deployment = `deploy-${this.nextInstance}`;
    this.emit('api_post_event', { clientIp: '127.0.0.1', uri: '/v2/apps', appDefinition: app });
    const plan = { id: deployment, steps: [{ actions: [{ action: 'StartApplication', app: id }] }], version: app['version'] };
    this.emit('deployment_info', { plan, currentStep: plan.steps[0] });
    const old = this.apps.get(id);
    this.apps.set(id, { app, tasks: new Map() });
    for (const t of old?.tasks.values() ?? []) this.emitStatus(t, 'TASK_KILLED');
    const tasks: Json[] = [];
    for (let i = 0; i < Number(app['instances']); i++) tasks.push(this.launch(id, opts.healthy));
    this.emit('deployment_success', { id: deployment, plan });
    return tasks;
  }

  /**
   * Changes the app definition and announces it (api_post_event) while its
   * tasks keep running. Real Marathon would roll the tasks for most changes;
   * keeping them lets a test tell a change of the definition alone.
   */
  updateApp(id: string, change: (app: Json) => void): void {
    const s = this.mustApp(id);
    change(s.app);
    this.emit('api_post_event', { clientIp: '127.0.0.1', uri: `/v2/apps${id}`, appDefinition: s.app });
  }

  /** Launches or kills tasks until the app has `instances`. */
  scaleApp(id: string, instances: number): void {
    const s = this.mustApp(id);
    s.app['instances'] = instances;
    while (s.tasks.size < instances) this.launch(id);
    for (const taskId of [...s.tasks.keys()].slice(instances)) this.killTask(taskId);
  }

  /** TASK_KILLING (the task drains, weight 0) then, unless `keepKilling`, TASK_KILLED. */
  killTask(taskId: string, opts: { keepKilling?: boolean } = {}): void {
    const { state, task } = this.mustTask(taskId);
    task['state'] = 'TASK_KILLING';
    this.emitStatus(task, 'TASK_KILLING');
    if (opts.keepKilling === true) return;
    state.tasks.delete(taskId);
    this.emitStatus(task, 'TASK_KILLED');
  }

  /** A health check result flips: healthCheckResults and health_status_changed_event. */
  setHealth(taskId: string, alive: boolean): void {
    const { state, task } = this.mustTask(taskId);
    const checks = Array.isArray(state.app['healthChecks']) ? (state.app['healthChecks'] as unknown[]).length : 1;
    task['healthCheckResults'] = Array.from({ length: Math.max(1, checks) }, () => ({
      alive, consecutiveFailures: alive ? 0 : 3, firstSuccess: now(), instanceId: instanceOf(taskId), lastSuccess: alive ? now() : null,
      lastFailure: alive ? null : now(), lastFailureCause: alive ? null : 'connection refused',
    }));
    this.emit('health_status_changed_event', { appId: String(state.app['id']), instanceId: instanceOf(taskId), version: String(state.app['version']), alive });
  }

  /** Kills every task of the app and forgets it. */
  removeApp(id: string): void {
    const s = this.mustApp(id);
    for (const taskId of [...s.tasks.keys()]) this.killTask(taskId);
    this.apps.delete(id);
    this.emit('app_terminated_event', { appId: id });
  }

  /** Sends any event to the streams whose filter lets it through. */
  emit(eventType: string, fields: Json): void {
    const data = JSON.stringify({ ...fields, eventType, timestamp: now() });
    const text = encodeSse({ type: eventType, data });
    for (const s of this.streams) if (s.filter.size === 0 || s.filter.has(eventType)) s.res.write(text);
  }

  /** Raw text to every stream. */
  sendRaw(text: string): void {
    for (const s of this.streams) s.res.write(text);
  }

  /** Runs `fn` with the streams corked, so its events leave in one write. */
  batch<T>(fn: () => T): T {
    for (const s of this.streams) s.res.cork();
    try {
      return fn();
    } finally {
      for (const s of this.streams) s.res.uncork();
    }
  }

  // --- faults -------------------------------------------------------------------

  setSilent(on: boolean): void {
    this.silent = on;
  }

  dropStreams(): void {
    for (const s of [...this.streams]) {
      this.close(s);
      s.res.socket?.destroy();
    }
  }

  endStreams(): void {
    for (const s of [...this.streams]) {
      this.close(s);
      s.res.end();
    }
  }

  /** An event whose data is not JSON. */
  sendBadEvent(): void {
    this.sendRaw('event: status_update_event\ndata: {"appId": "/x", \n\n');
  }

  protected override onStop(): void {
    for (const s of [...this.streams]) this.close(s);
  }

  // --- HTTP -------------------------------------------------------------------

  protected route(req: http.IncomingMessage, res: http.ServerResponse, _body: string, rec: RecordedRequest): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const json = (status: number, value: unknown): void => {
      if (status !== 200) rec.outcome = String(status);
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
    };
    if (req.method !== 'GET') return json(405, { message: 'emulator: only GET' });
    if (path === '/ping') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('pong');
    if (path === '/v2/info') return json(200, { name: 'marathon', version: '1.10.0', leader: new URL(this.url).host, elected: true });
    if (path === '/v2/events') return this.subscribe(req, res, url, rec);
    if (path === '/v2/tasks') {
      const running = url.searchParams.get('status') === 'running';
      return json(200, { tasks: this.allTasks().filter((t) => !running || t['state'] === 'TASK_RUNNING') });
    }
    if (path === '/v2/apps' || path === '/v2/apps/') {
      const embed = url.searchParams.getAll('embed').includes('apps.tasks');
      return json(200, { apps: [...this.apps.values()].map((s) => this.appJson(s, embed)) });
    }
    if (path.startsWith('/v2/apps/')) {
      let id = path.slice('/v2/apps'.length).replace(/\/+$/, '');
      const tasksOnly = id.endsWith('/tasks') && !this.apps.has(id);
      if (tasksOnly) id = id.slice(0, -'/tasks'.length);
      const s = this.apps.get(id);
      if (s === undefined) return json(404, { message: `App '${id}' does not exist` });
      if (tasksOnly) return json(200, { tasks: [...s.tasks.values()] });
      return json(200, { app: this.appJson(s, url.searchParams.getAll('embed').includes('app.tasks')) });
    }
    json(404, { message: `emulator: no route for ${path}` });
  }

  private subscribe(req: http.IncomingMessage, res: http.ServerResponse, url: URL, rec: RecordedRequest): void {
    const accept = String(req.headers.accept ?? '');
    if (!accept.split(',').some((a) => a.trim().startsWith('text/event-stream'))) {
      rec.outcome = '406';
      res.writeHead(406, { 'Content-Type': 'text/plain' }).end('Accept: text/event-stream required');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-store, must-revalidate' });
    res.flushHeaders();
    const heartbeat = setInterval(() => {
      if (!this.silent) res.write('\r\n');
    }, this.heartbeatS * 1000);
    heartbeat.unref();
    const stream: Stream = { res, filter: new Set(url.searchParams.getAll('event_type')), heartbeat };
    this.streams.add(stream);
    res.on('close', () => this.close(stream));
    this.emit('event_stream_attached', { remoteAddress: req.socket.remoteAddress ?? '' });
  }

  private close(s: Stream): void {
    clearInterval(s.heartbeat);
    this.streams.delete(s);
  }

  private appJson(s: AppState, embedTasks: boolean): Json {
    const tasks = [...s.tasks.values()];
    const running = tasks.filter((t) => t['state'] === 'TASK_RUNNING');
    const healthy = running.filter((t) => Array.isArray(t['healthCheckResults']) && (t['healthCheckResults'] as Json[]).every((r) => r['alive'] === true));
    const out: Json = {
      ...s.app, tasksStaged: tasks.length - running.length, tasksRunning: running.length,
      tasksHealthy: healthy.length, tasksUnhealthy: running.length - healthy.length, deployments: [],
    };
    if (embedTasks) out['tasks'] = tasks;
    return out;
  }

  private allTasks(): Json[] {
    return [...this.apps.values()].flatMap((s) => [...s.tasks.values()]);
  }

  private mustApp(id: string): AppState {
    const s = this.apps.get(id);
    if (s === undefined) throw new Error(`marathon emulator: no app ${id}`);
    return s;
  }

  private mustTask(taskId: string): { state: AppState; task: Json } {
    for (const state of this.apps.values()) {
      const task = state.tasks.get(taskId);
      if (task !== undefined) return { state, task };
    }
    throw new Error(`marathon emulator: no task ${taskId}`);
  }

  private launch(appId: string, healthy?: boolean): Json {
    const s = this.mustApp(appId);
    const agent = this.agents[this.nextAgent++ % this.agents.length] as MarathonAgent;
    const taskId = `${appId.slice(1).replace(/\//g, '_')}.instance-${String(this.nextInstance++).padStart(8, '0')}._app.1`;
    const mode = networkOf(s.app);
    const ip = mode === 'host' ? agent.ip : mode === 'container/bridge' ? `172.17.0.${this.nextIp++ % 250}` : this.containerIp(agent);
    const task: Json = {
      appId, id: taskId, host: agent.host, slaveId: agent.id, state: 'TASK_STAGING',
      ipAddresses: [{ ipAddress: ip, protocol: ip.includes(':') ? 'IPv6' : 'IPv4' }], ports: this.hostPorts(s.app), servicePorts: [],
      stagedAt: now(), version: s.app['version'], localVolumes: [], region: 'local', zone: 'a', role: '*',
    };
    s.tasks.set(taskId, task);
    this.emitStatus(task, 'TASK_STAGING');
    task['state'] = 'TASK_RUNNING';
    task['startedAt'] = now();
    this.emitStatus(task, 'TASK_RUNNING');
    if (Array.isArray(s.app['healthChecks']) && (s.app['healthChecks'] as unknown[]).length > 0) {
      if (healthy !== undefined) this.setHealth(taskId, healthy);
      else task['healthCheckResults'] = [];
    }
    return task;
  }

  // Host ports Marathon assigns: one per port definition (host networking),
  // or per port mapping that has a hostPort (0 = any).
  private hostPorts(app: Json): number[] {
    const pick = (p: unknown): number => (typeof p === 'number' && p > 0 ? p : this.nextHostPort++);
    if (networkOf(app) === 'host') {
      const defs = Array.isArray(app['portDefinitions']) ? (app['portDefinitions'] as Json[]) : [];
      return defs.map(() => this.nextHostPort++);
    }
    const c = (app['container'] ?? {}) as Json;
    const mappings = (c['portMappings'] ?? (c['docker'] as Json | undefined)?.['portMappings'] ?? []) as Json[];
    return mappings.filter((m) => typeof m['hostPort'] === 'number').map((m) => pick(m['hostPort']));
  }

  private readonly containerIpTurn = new Map<string, number>();

  private containerIp(agent: MarathonAgent): string {
    const ips = agent.containerIps ?? [];
    if (ips.length === 0) return `9.0.${Math.floor(this.nextIp / 250)}.${this.nextIp++ % 250}`;
    const turn = this.containerIpTurn.get(agent.id) ?? 0;
    this.containerIpTurn.set(agent.id, turn + 1);
    return ips[turn % ips.length] as string;
  }

  private emitStatus(task: Json, status: string): void {
    const taskId = String(task['id']);
    this.emit('status_update_event', {
      slaveId: task['slaveId'], taskId, taskStatus: status, message: '', appId: task['appId'], host: task['host'],
      ipAddresses: task['ipAddresses'], ports: task['ports'], version: task['version'],
    });
    const condition = status === 'TASK_RUNNING' ? 'Running' : status === 'TASK_STAGING' ? 'Staging' : status === 'TASK_KILLING' ? 'Killing' : 'Killed';
    this.emit('instance_changed_event', {
      instanceId: instanceOf(taskId), condition, runSpecId: task['appId'], agentId: task['slaveId'], host: task['host'], runSpecVersion: task['version'],
    });
  }
}

function instanceOf(taskId: string): string {
  return taskId.replace(/\._app\.\d+$/, '');
}

function networkOf(app: Json): 'host' | 'container/bridge' | 'container' {
  const networks = Array.isArray(app['networks']) ? (app['networks'] as Json[]).map((n) => n['mode']) : [];
  if (networks.includes('container/bridge')) return 'container/bridge';
  if (networks.includes('container')) return 'container';
  const docker = ((app['container'] as Json | undefined)?.['docker'] as Json | undefined)?.['network'];
  if (docker === 'BRIDGE') return 'container/bridge';
  if (docker === 'USER') return 'container';
  return 'host';
}
