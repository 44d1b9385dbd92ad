// The mechanics behind the demo's story (test/demo/guest.ts): printing steps
// with their timings, running the real `l4lb` CLI, asking the daemon's status
// API, DNS lookups, counting where HTTP requests land, and reading the
// kernel's IPVS table. Nothing here decides what the demo shows.

import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { IpvsHandle } from '../../native/ipvs/index.js';
import { httpGet } from '../kernel/lib.js';
import { l4lb } from '../kernel/e2e-lib.js';

// --- printing --------------------------------------------------------------

const started = performance.now();

export const say = (text = ''): void => void process.stdout.write(`${text}\n`);

/** Every line of `text` indented, so that command output stands apart from the story. */
export const indent = (text: string, by = '      '): string =>
  text.trimEnd().split('\n').map((l) => `${by}${l}`.trimEnd()).join('\n');

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Seconds since the guest script started, for the step headers. */
const clock = (): string => `[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s]`;

// --- steps -------------------------------------------------------------------

/** A step that did not do what it said; already reported on stdout. */
export class StepFailed extends Error {}

/** An outcome check inside a step: a false `ok` fails the step with `what`. */
export function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/**
 * Runs one numbered step: prints its title, runs it, prints how long it took.
 * If it throws, prints `FAILED: step n/N (title): why` and throws StepFailed,
 * so that the remaining steps do not run (cleanup still does).
 */
export async function step<T>(n: number, total: number, title: string, body: () => Promise<T>): Promise<T> {
  say(`\n${clock()} step ${n}/${total}: ${title}`);
  const t0 = performance.now();
  try {
    const value = await body();
    say(`    step ${n} ok (${seconds(performance.now() - t0)})`);
    return value;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    say(`\nFAILED: step ${n}/${total} (${title}): ${why}`);
    throw new StepFailed(why);
  }
}

/** Polls `probe` every 100 ms until it returns a value; throws after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${seconds(timeoutMs)} waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `body` and says how long it took (`label (1.2 s)`). */
export async function timed<T>(body: () => Promise<T>): Promise<{ value: T; took: string }> {
  const t0 = performance.now();
  const value = await body();
  return { value, took: seconds(performance.now() - t0) };
}

// --- child processes -----------------------------------------------------------

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program; never throws for a non-zero exit (the caller checks `code`). */
export function runProgram(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Output> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 60_000, env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr: stderr || (err !== null && typeof err.code !== 'number' ? err.message : '') });
    });
  });
}

/** Whether a program is on PATH (dig is optional: Debian's dnsutils). */
export function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(`${dir}/${program}`));
}

/**
 * The real CLI, bin/l4lb, as a separate process, exactly as an operator runs
 * it; it finds the daemon through L4LB_STATUS_SOCKET. Prints `$ l4lb ...` and
 * its output; throws unless it exits 0.
 */
export async function showCli(socket: string, args: readonly string[]): Promise<string> {
  say(`    $ l4lb ${args.join(' ')}`);
  const r = await runProgram(process.execPath, [l4lb, ...args], { ...process.env, L4LB_STATUS_SOCKET: socket });
  if (r.stdout.trim() !== '') say(indent(r.stdout));
  check(r.code === 0, `\`l4lb ${args.join(' ')}\` exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

// --- the daemon's status API ------------------------------------------------------

/** GET `path` on the daemon's status socket: the status code and the body (JSON when 200). */
export function statusApi(socket: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** JSON from the status API, or undefined while the daemon is not answering 200 yet. */
export async function statusJson<T>(socket: string, path: string): Promise<T | undefined> {
  const r = await statusApi(socket, path).catch(() => undefined);
  return r?.status === 200 ? (JSON.parse(r.body) as T) : undefined;
}

// --- DNS -------------------------------------------------------------------------

export interface Lookup {
  /** What the user would see: dig's answer section, or our own rendering of it. */
  shown: string;
  /** The A records, in order. */
  addresses: string[];
}

/** An A query for `name` to `server` (port 53) with `dig`, or a dns-packet query when dig is not installed. */
export async function lookup(server: string, name: string): Promise<Lookup> {
  if (onPath('dig')) {
    const r = await runProgram('dig', [`@${server}`, '+noall', '+answer', '+time=2', '+tries=1', name]);
    const addresses = r.stdout.split('\n').map((l) => /\sIN\s+A\s+(\d+\.\d+\.\d+\.\d+)$/.exec(l.trim())?.[1]).filter((a): a is string => a !== undefined);
    return { shown: `$ dig @${server} +noall +answer ${name}\n${r.stdout.trim()}`, addresses };
  }
  const answers = await queryA(server, name);
  const addresses = answers.map((a) => a.data);
  return { shown: `(dig is not installed: a DNS query from node)\n${answers.map((a) => `${a.name}.\t${a.ttl}\tIN\tA\t${a.data}`).join('\n')}`, addresses };
}

/** One UDP A query with dns-packet. */
function queryA(server: string, name: string): Promise<Array<{ name: string; ttl: number; data: string }>> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => (sock.close(), reject(new Error(`no DNS answer from ${server} in 2 s`))), 2_000);
    sock.once('message', (msg) => {
      clearTimeout(timer);
      sock.close();
      const reply = dnsPacket.decode(msg) as DecodedPacket;
      resolve((reply.answers ?? []).flatMap((a) => (a.type === 'A' ? [{ name: a.name, ttl: a.ttl ?? 0, data: a.data }] : [])));
    });
    sock.send(dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
  });
}

// --- traffic -------------------------------------------------------------------------

/** How many requests each body (a task id) answered, and how many got no answer. */
export interface Landings {
  byTask: Map<string, number>;
  unanswered: number;
  firstError?: string;
}

/** `n` GETs of `url`, each on a new TCP connection (a new IPVS scheduling decision). */
export async function sendRequests(url: string, n: number): Promise<Landings> {
  const out: Landings = { byTask: new Map(), unanswered: 0 };
  for (let i = 0; i < n; i++) {
    try {
      const { status, body } = await httpGet(url, 5_000);
      if (status !== 200) throw new Error(`HTTP ${status}`);
      out.byTask.set(body.trim(), (out.byTask.get(body.trim()) ?? 0) + 1);
    } catch (e) {
      out.unanswered++;
      out.firstError ??= e instanceof Error ? e.message : String(e);
    }
  }
  return out;
}

/** Prints one line per task (every task listed, also those that got nothing). */
export function printLandings(l: Landings, tasks: readonly string[], note: (task: string) => string = () => ''): void {
  for (const t of tasks) say(`      ${t}   ${String(l.byTask.get(t) ?? 0).padStart(3)} requests${note(t)}`);
  for (const [t, n] of l.byTask) if (!tasks.includes(t)) say(`      ${t} (not a task of this app!)   ${n} requests`);
  if (l.unanswered > 0) say(`      no answer: ${l.unanswered} (first error: ${l.firstError ?? '?'})`);
}

// --- the kernel ----------------------------------------------------------------------

/**
 * The kernel's destinations of the TCP IPVS service `address:port` (`ip:port` -> weight),
 * read over netlink straight from the kernel: not what l4lb believes, what IPVS does.
 */
export function kernelDestinations(address: string, port: number): Map<string, number> | undefined {
  const ipvs = IpvsHandle.open();
  try {
    const svc = ipvs.dump().find((s) => s.protocol === 'tcp' && s.address === address && s.port === port);
    return svc && new Map(svc.destinations.map((d) => [`${d.address}:${d.port}`, d.weight]));
  } finally {
    ipvs.close();
  }
}

/** Processes whose parent is this one (what cleanup must have stopped). */
export function childProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces, so split after the last ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(`${pid} ${stat.slice(stat.indexOf('(') + 1, close)}`);
    } catch {
      // The process ended while we looked: not left behind.
    }
  }
  return out;
}
