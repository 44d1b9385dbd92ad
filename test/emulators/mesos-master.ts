// A Mesos master's operator API on loopback, faithful at the wire:
// `POST /api/v1 {"type":"SUBSCRIBE"}` -> 200, chunked RecordIO: SUBSCRIBED
// (get_state + heartbeat_interval_seconds), a HEARTBEAT at once and every
// interval, then an event per cluster mutation; `GET_STATE` -> one JSON
// reply. A standby answers 307 with a protocol-relative Location of the
// leader (`//host:port/api/v1`, as src/master/http.cpp does), or 503 with no
// leader. Faults: drop/end streams, go silent, bad length, truncated and
// non-JSON records, error statuses, stalls. Replay: serve a capture's
// records verbatim (test/fixtures/dcos-net).
//
//   const m = await MesosMasterEmulator.start({ heartbeatIntervalSeconds: 15 });
//   m.addAgent({ id: 'S0', hostname: '10.0.0.1' }); m.addFramework({ id: 'F0', name: 'marathon' });
//   m.addTask({ id: 'web.1', frameworkId: 'F0', agentId: 'S0', ips: ['9.0.0.1'], ports: [{ number: 80, vips: ['/web:80'] }] });
//   ... source at m.url ...; await m.stop();

import type http from 'node:http';
import { encodeRecord } from '../../controller/sources/recordio.js';
import { MesosCluster, type AgentSpec, type FrameworkSpec, type Json, type StatusUpdate, type TaskSpec } from './mesos-cluster.js';
import { EmulatorServer, type EmulatorServerOptions, type RecordedRequest } from './server.js';

export interface MesosMasterOptions extends EmulatorServerOptions {
  /** Sent in SUBSCRIBED and used for HEARTBEATs (default 15, as Mesos). */
  heartbeatIntervalSeconds?: number;
  /** Start from this cluster (default: empty). */
  cluster?: MesosCluster;
}

interface Subscriber {
  res: http.ServerResponse;
  heartbeat: NodeJS.Timeout;
}

type Mode = { kind: 'leader' } | { kind: 'standby'; leader: string | undefined };

export class MesosMasterEmulator extends EmulatorServer {
  readonly cluster: MesosCluster;
  heartbeatIntervalSeconds: number;
  private readonly subs = new Set<Subscriber>();
  private mode: Mode = { kind: 'leader' };
  private replayRecords: string[] | undefined;
  private replayChunk = 0;
  private silent = false;
  /** The SUBSCRIBED record rendered by prerender(), until the next change made through this emulator. */
  private rendered: { heartbeat: number; record: Buffer } | undefined;
  private readonly waiters: Array<() => void> = [];

  private constructor(opts: MesosMasterOptions) {
    super(opts);
    this.cluster = opts.cluster ?? new MesosCluster();
    this.heartbeatIntervalSeconds = opts.heartbeatIntervalSeconds ?? 15;
  }

  static async start(opts: MesosMasterOptions = {}): Promise<MesosMasterEmulator> {
    const m = new MesosMasterEmulator(opts);
    await m.listen();
    return m;
  }

  /** `<url>/api/v1` */
  get apiUrl(): string {
    return `${this.url}/api/v1`;
  }

  /** Open SUBSCRIBE streams. */
  get subscribers(): number {
    return this.subs.size;
  }

  /** SUBSCRIBE requests received (answered or not). */
  get subscribeRequests(): number {
    return this.requests.filter((r) => r.url.split('?')[0] === '/api/v1' && r.body.includes('SUBSCRIBE')).length;
  }

  /** Resolves once at least `n` streams are open. */
  async waitForSubscribers(n = 1, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.subs.size < n) {
      if (Date.now() > deadline) throw new Error(`mesos emulator: ${this.subs.size} of ${n} subscribers after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50).unref();
      });
    }
  }

  // --- leadership -----------------------------------------------------------

  /** Become a standby: answer 307 to `leaderUrl` (503 if none); open streams are closed. */
  standby(leaderUrl?: string): void {
    this.mode = { kind: 'standby', leader: leaderUrl };
    this.endStreams();
  }

  lead(): void {
    this.mode = { kind: 'leader' };
  }

  // --- cluster mutations (each streams its event) ---------------------------

  addAgent(a: AgentSpec): Json {
    return this.send(this.cluster.addAgent(a));
  }

  addRecoveredAgent(a: AgentSpec): void {
    this.rendered = undefined;
    this.cluster.addRecoveredAgent(a);
  }

  removeAgent(id: string): Json {
    return this.send(this.cluster.removeAgent(id));
  }

  addFramework(f: FrameworkSpec): Json {
    return this.send(this.cluster.addFramework(f));
  }

  removeFramework(id: string): Json {
    return this.send(this.cluster.removeFramework(id));
  }

  addTask(spec: TaskSpec): Json {
    return this.send(this.cluster.addTask(spec));
  }

  updateTask(frameworkId: string, taskId: string, u: StatusUpdate): Json {
    return this.send(this.cluster.updateTask(frameworkId, taskId, u));
  }

  /**
   * Renders the SUBSCRIBED record now, so a later SUBSCRIBE is answered
   * without building it: a real master runs on another machine, and the
   * benchmarks time l4lb, not this emulator sharing its CPU. Any change made
   * through the emulator drops it; do not call this and then edit `cluster`
   * directly.
   */
  prerender(): void {
    this.rendered = { heartbeat: this.heartbeatIntervalSeconds, record: encodeRecord(JSON.stringify(this.cluster.subscribed(this.heartbeatIntervalSeconds))) };
  }

  /** Streams any event object to every subscriber. */
  send(event: Json): Json {
    this.rendered = undefined;
    if (this.subs.size > 0) this.write(encodeRecord(JSON.stringify(event)));
    return event;
  }

  /** Writes raw bytes to every stream. */
  sendRaw(bytes: string | Buffer): void {
    this.write(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  }

  /** Runs `fn` with the streams corked, so its events leave in one write. */
  batch<T>(fn: () => T): T {
    for (const s of this.subs) s.res.cork();
    try {
      return fn();
    } finally {
      for (const s of this.subs) s.res.uncork();
    }
  }

  // --- faults ----------------------------------------------------------------

  /** Stop (or resume) heartbeats; streams stay open and silent. */
  setSilent(on: boolean): void {
    this.silent = on;
  }

  /** Destroys every stream's socket abruptly (connection reset). */
  dropStreams(): void {
    for (const s of [...this.subs]) {
      this.unsubscribe(s);
      s.res.socket?.destroy();
    }
  }

  /** Ends every stream cleanly (the final empty chunk). */
  endStreams(): void {
    for (const s of [...this.subs]) {
      this.unsubscribe(s);
      s.res.end();
    }
  }

  /** A record whose length prefix is not a number. */
  sendBadLength(): void {
    this.sendRaw('12x\n{"type":"HEARTBEAT"}');
  }

  /** A length prefix promising more bytes than follow, then the stream ends. */
  sendTruncated(): void {
    this.sendRaw('100\n{"type":"HEARTBEAT"}');
    this.endStreams();
  }

  /** A well-framed record that is not JSON. */
  sendNonJson(): void {
    this.sendRaw(encodeRecord('{"type":"TASK_ADDED","task_added":'));
  }

  /**
   * SUBSCRIBE answers with these records, verbatim, instead of the cluster's:
   * one write per record, or (chunkBytes) the whole stream cut into writes of
   * that many bytes, so boundaries fall inside length prefixes and characters.
   */
  replay(records: readonly string[] | undefined, opts: { chunkBytes?: number } = {}): void {
    this.replayRecords = records === undefined ? undefined : [...records];
    this.replayChunk = opts.chunkBytes ?? 0;
  }

  protected override onStop(): void {
    for (const s of [...this.subs]) this.unsubscribe(s);
  }

  protected route(req: http.IncomingMessage, res: http.ServerResponse, body: string, rec: RecordedRequest): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/api/v1') {
      rec.outcome = '404';
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'POST') {
      rec.outcome = '405';
      res.writeHead(405, { Allow: 'POST' }).end();
      return;
    }
    if (this.mode.kind === 'standby') {
      const leader = this.mode.leader;
      if (leader === undefined) {
        rec.outcome = '503';
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('No leader elected');
        return;
      }
      const u = new URL(leader);
      rec.outcome = '307';
      res.writeHead(307, { Location: `//${u.host}/api/v1` }).end();
      return;
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      rec.outcome = '415';
      res.writeHead(415, { 'Content-Type': 'text/plain' }).end('Expecting \'Content-Type\' of application/json or application/x-protobuf');
      return;
    }
    let call: { type?: unknown };
    try {
      call = JSON.parse(body) as { type?: unknown };
    } catch (e) {
      rec.outcome = '400';
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`Failed to parse body into JSON: ${(e as Error).message}`);
      return;
    }
    if (call.type === 'GET_STATE') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ type: 'GET_STATE', get_state: this.cluster.getState() }));
      return;
    }
    if (call.type !== 'SUBSCRIBE') {
      rec.outcome = '400';
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`Unsupported call type ${JSON.stringify(call.type)}`);
      return;
    }
    this.subscribe(res);
  }

  private subscribe(res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const records = this.replayRecords;
    if (records !== undefined && this.replayChunk > 0) {
      const all = Buffer.concat(records.map((r) => encodeRecord(r)));
      for (let i = 0; i < all.length; i += this.replayChunk) res.write(all.subarray(i, i + this.replayChunk));
    } else if (records !== undefined) {
      for (const r of records) res.write(encodeRecord(r));
    } else {
      const r = this.rendered;
      res.write(r !== undefined && r.heartbeat === this.heartbeatIntervalSeconds ? r.record
        : encodeRecord(JSON.stringify(this.cluster.subscribed(this.heartbeatIntervalSeconds))));
      if (!this.silent) res.write(encodeRecord('{"type":"HEARTBEAT"}'));
    }
    const heartbeat = setInterval(() => {
      if (!this.silent) res.write(encodeRecord('{"type":"HEARTBEAT"}'));
    }, this.heartbeatIntervalSeconds * 1000);
    heartbeat.unref();
    const sub: Subscriber = { res, heartbeat };
    this.subs.add(sub);
    res.on('close', () => this.unsubscribe(sub));
    for (const w of this.waiters.splice(0)) w();
  }

  private unsubscribe(s: Subscriber): void {
    clearInterval(s.heartbeat);
    this.subs.delete(s);
  }

  private write(bytes: Buffer): void {
    for (const s of this.subs) s.res.write(bytes);
  }
}

export { MesosCluster } from './mesos-cluster.js';
export type { AgentSpec, DiscoveryPortSpec, FrameworkSpec, StatusUpdate, TaskSpec } from './mesos-cluster.js';

/**
 * The records a master would stream for a dcos-net capture: a multi-line
 * file is a SUBSCRIBE stream (one record per line, served verbatim); a
 * one-line GET_STATE reply becomes the SUBSCRIBED that carries it.
 */
export function captureRecords(text: string, heartbeatIntervalSeconds = 15): string[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 1) {
    const reply = JSON.parse(lines[0] as string) as { type?: string; get_state?: unknown };
    if (reply.type === 'GET_STATE') {
      return [JSON.stringify({ type: 'SUBSCRIBED', subscribed: { get_state: reply.get_state, heartbeat_interval_seconds: heartbeatIntervalSeconds } })];
    }
  }
  return lines;
}
