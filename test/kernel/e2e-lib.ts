// Shared by the end-to-end kernel tests: `l4lb run` as a child process with
// its JSON log lines, DNS lookups through it, and polling with a deadline.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, isIPv4, isIPv6, type Socket } from 'node:net';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { httpGet, startHttpServer, udpAsk, waitForTcp, type Backend, type Cleanup, type Server } from './lib.js';
import type { MarathonEmulator } from '../emulators/marathon.js';

export const l4lb = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'l4lb');

/**
 * The V8 flags `l4lb run` wants (bin/l4lb's default, or L4LB_NODE_FLAGS):
 * the tests start node with them, as the systemd unit and the image do, so
 * the daemon does not re-execute itself (one node start, as in production).
 */
export const L4LB_RUN_FLAGS: string[] = (process.env.L4LB_NODE_FLAGS ??
  /const DEFAULT_RUN_FLAGS = '([^']*)';/.exec(readFileSync(l4lb, 'utf8'))?.[1] ?? '').split(/\s+/).filter(Boolean);

export interface LogLine {
  message: string;
  [k: string]: unknown;
}

/** `l4lb run` as a child process, with its JSON log lines collected. */
export class Daemon {
  readonly lines: LogLine[] = [];
  private readonly waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  readonly proc: ChildProcess;
  constructor(args: string[]) {
    // Profiling: L4LB_DAEMON_NODE_ARGS adds node flags (`--cpu-prof --cpu-prof-dir=...`, `--trace-gc`),
    // L4LB_DAEMON_STDOUT keeps the daemon's stdout (where V8 traces go).
    const nodeArgs = (process.env.L4LB_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const out = process.env.L4LB_DAEMON_STDOUT ? openSync(process.env.L4LB_DAEMON_STDOUT, 'w') : 'ignore';
    // The status socket goes to a temp dir unless the test names one: never the host's /run/l4lb.
    const socket = args.includes('--status-socket') ? [] : ['--status-socket', join(mkdtempSync(join(tmpdir(), 'l4lb-sock-')), 'l4lb.sock')];
    this.proc = spawn(process.execPath, [...L4LB_RUN_FLAGS, ...nodeArgs, l4lb, 'run', ...args, ...socket], { stdio: ['ignore', out, 'pipe'] });
    let buf = '';
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { message: text };
        }
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          if (w.pred(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
  }
  /** The IPVS operations (`ipvs op` debug lines, `--log-level debug`) logged after line `from`. */
  opsSince(from: number): string[] {
    return this.lines.slice(from).filter((l) => l.message === 'ipvs op').map((l) => String(l['op']));
  }

  /** The first line (already seen or still to come) that matches. */
  waitFor(pred: (l: LogLine) => boolean, what: string, timeoutMs = 30_000): Promise<LogLine> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`daemon never logged ${what}; last lines:\n${this.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  }
  kill(signal: NodeJS.Signals): Promise<void> {
    // A process killed by a signal has exitCode null and signalCode set.
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill(signal);
    return gone;
  }
}

/** The address l4lb DNS answers for `name` (an A record, or AAAA), or '' when none. */
export function dig(dnsPort: number, name: string, type: 'A' | 'AAAA' = 'A'): Promise<string> {
  return new Promise((resolve) =>
    // Only an address of the asked family counts: dig prints its errors on stdout too.
    execFile('dig', ['@127.0.0.1', '-p', String(dnsPort), '+short', '+time=1', '+tries=1', name, type], (_e, out) => {
      const text = String(out).trim();
      resolve((type === 'A' ? isIPv4 : isIPv6)(text) ? text : '');
    }),
  );
}

export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}


/**
 * Polls a destination's kernel weight until it is gone; resolves with every
 * weight seen before that (a UDP destination must never show 0: it is
 * deleted, not drained).
 */
export async function weightsUntilDeleted(what: string, weight: () => Promise<number | undefined>, timeoutMs = 20_000): Promise<number[]> {
  const seen: number[] = [];
  await until(`${what} deleted`, async () => {
    const w = await weight();
    if (w !== undefined) seen.push(w);
    return w === undefined ? true : undefined;
  }, timeoutMs).catch((e: Error) => {
    throw new Error(`${e.message}; weights seen meanwhile: ${seen.join(',')}`);
  });
  return seen;
}

/** `n` GETs of `url`, each on a new connection: how many each body (a task's name) answered. */
export async function countLandings(url: string, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { body } = await httpGet(url);
    counts[body] = (counts[body] ?? 0) + 1;
  }
  return counts;
}

/** `n` datagrams to host:port, each from a new socket (a new flow): how many each answer (a backend's name) came back. */
export async function countUdpLandings(host: string, port: number, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  // Every socket stays open until the end: a closed one's source port may be handed out
  // again, and a datagram from it would match the old IPVS connection (same flow, same
  // backend). For 30 flows over ~28,000 ephemeral ports that is ~1.5% of runs; a CI run saw 9/11/10.
  const open: Array<{ close(): void }> = [];
  try {
    for (let i = 0; i < n; i++) {
      const body = await udpAsk(host, port, `flow ${i}`, 5_000, open);
      counts[body] = (counts[body] ?? 0) + 1;
    }
  } finally {
    for (const s of open) s.close();
  }
  return counts;
}

/**
 * countLandings (kind `http`, target a URL) or countUdpLandings (kind `udp`,
 * target `host port`) run by a node process inside another namespace: the
 * forwarded path (a client namespace) or hairpin (a backend's own namespace).
 */
export async function countLandingsFrom(ns: Backend, kind: 'http' | 'udp', target: string, n: number): Promise<Record<string, number>> {
  const self = fileURLToPath(import.meta.url);
  const script = `const m = await import(${JSON.stringify(self)}); const [kind, target, n] = process.argv.slice(1);
const counts = kind === 'http' ? await m.countLandings(target, Number(n)) : await m.countUdpLandings(target.split(' ')[0], Number(target.split(' ')[1]), Number(n));
process.stdout.write(JSON.stringify(counts));`;
  const r = await ns.exec(process.execPath, ['--input-type=module', '-e', script, kind, target, String(n)]);
  return JSON.parse(r.stdout) as Record<string, number>;
}

/** GET a path of the status API on the daemon's unix socket, as JSON. */
export function statusJson<T>(socket: string, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as T) : reject(new Error(`${path}: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

export interface Line {
  roundTrip(text: string): Promise<string>;
  close(): void;
}

/** One TCP connection that sends a line and reads the echo, as often as asked. */
export function openLine(host: string, port: number): Promise<Line> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host, port }, () => {
      let buf = '';
      let waiting: ((l: string) => void) | undefined;
      s.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        const i = buf.indexOf('\n');
        if (i >= 0 && waiting) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const w = waiting;
          waiting = undefined;
          w(line);
        }
      });
      resolve({
        roundTrip: (text) =>
          new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error(`no echo of ${JSON.stringify(text)} within 5 s: the connection was lost`)), 5000);
            waiting = (l) => (clearTimeout(t), res(l));
            s.write(`${text}\n`);
          }),
        close: () => s.destroy(),
      });
    });
    s.once('error', reject);
  });
}

/** A node TCP server in a backend namespace that echoes every line back. */
export async function startEchoServer(b: Backend, port: number, cleanup: Cleanup): Promise<void> {
  const script = `require('net').createServer((s) => s.pipe(s)).listen(Number(process.argv[1]), '0.0.0.0')`;
  const child = spawn('ip', ['netns', 'exec', b.name, process.execPath, '-e', script, String(port)], { stdio: 'ignore' });
  cleanup.add(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitForTcp(b.addr, port);
}

/** Flags every e2e daemon shares: the test VIP pool (198.51.100.0/24), 2 s resync and drain (unless `drainTimeout`), JSON logs. */
export function e2eDaemonFlags(stateDir: string, opts: { drainTimeout?: string } = {}): string[] {
  return [
    '--state-dir', stateDir,
    '--vips-ipv4-min', '198.51.100.0',
    '--vips-ipv4-max', '198.51.100.255',
    '--reconcile-resync-interval', '2s',
    '--ipvs-drain-timeout', opts.drainTimeout ?? '2s',
    '--dataplane-iptables', process.env.L4LB_IPTABLES ?? 'iptables',
    '--log-format', 'json',
  ];
}

/**
 * Deploys a Marathon app whose one port carries `VIP_0: vip` (and any
 * `portLabels`), host networking on the given agents, and starts each task as
 * a real HTTP server answering with its task id on its agent (backend
 * namespace) at its host port.
 */
export async function deployHttpApp(
  marathon: MarathonEmulator,
  agents: readonly Backend[],
  app: { id: string; instances: number; vip: string; portName?: string; portLabels?: Record<string, string> },
  cleanup: Cleanup,
): Promise<{ tasks: ReturnType<MarathonEmulator['deployApp']>; servers: Server[] }> {
  const tasks = marathon.deployApp({
    id: app.id,
    instances: app.instances,
    networks: [{ mode: 'host' }],
    portDefinitions: [{ port: 0, protocol: 'tcp', name: app.portName ?? 'http', labels: { ...app.portLabels, VIP_0: app.vip } }],
  });
  const servers: Server[] = [];
  for (const t of tasks) {
    const b = agents.find((x) => x.addr === t['host'])!;
    servers.push(await startHttpServer(b, { port: (t['ports'] as number[])[0]!, body: String(t['id']) }, cleanup));
  }
  return { tasks, servers };
}
