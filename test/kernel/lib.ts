// Helpers for kernel tests (test/kernel/*.test.ts). These tests run INSIDE a
// real kernel with IPVS, started by test/harness (kernel-suite.js): each file
// in its own fresh network namespace with lo up and a private /run/netns, so
// a file can add services, links and named namespaces without cleaning up
// after other files. Every address is a documentation range and lives inside
// that namespace (and, under UML, inside a guest with no network device).
//
// Address plan: VIPs in 198.51.100.0/24; backend i is joined by a veth pair
// with 203.0.113.(4i+1)/30 on the test's side and 203.0.113.(4i+2)/30 inside,
// and with IPv6 on, fd00:0:0:i::1/64 and fd00:0:0:i::2/64 (ULA).
import { after } from 'node:test';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KernelInfo {
  /** 'uml': inside a user-mode Linux guest; 'netns': the host kernel, fresh netns. */
  mode: 'uml' | 'netns';
  kernel: string;
}

/**
 * Call at the top of every kernel test file. Throws (failing the file loudly)
 * unless the harness started us: run on the host by mistake, these tests would
 * program the host's IPVS, or fail for reasons unrelated to the code.
 */
export function requireKernel(): KernelInfo {
  const mode = process.env.L4LB_KERNEL_HARNESS;
  if (mode !== 'uml' && mode !== 'netns') {
    throw new Error(
      'KERNEL TEST RUN OUTSIDE THE HARNESS: this file must run inside a real kernel with IPVS, ' +
        'in a fresh network namespace. Use `make test-kernel` or ' +
        '`node dist/test/harness/kernel-suite.js <file>`, not `node --test` directly.',
    );
  }
  return { mode, kernel: process.env.L4LB_KERNEL ?? 'unknown kernel' };
}

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: CmdResult,
  ) {
    super(`\`${argv.join(' ')}\` exited ${result.code}\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`);
    this.name = 'CommandError';
  }
}

/** Run a command and capture its output; never throws for a non-zero exit. */
export function run(cmd: string, args: readonly string[] = [], opts: { input?: string; timeoutMs?: number } = {}): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Run a command; throw a CommandError carrying all output if it fails. */
export async function exec(cmd: string, args: readonly string[] = [], opts: { input?: string; timeoutMs?: number } = {}): Promise<CmdResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new CommandError([cmd, ...args], r);
  return r;
}

export const ipvsadm = (...args: string[]): Promise<CmdResult> => exec('ipvsadm', args);
export const ip = (...args: string[]): Promise<CmdResult> => exec('ip', args);
/** iptables as the harness chose it: under UML `iptables` is a wrapper for iptables-legacy (no nftables IPv4 there). */
export const iptables = (...args: string[]): Promise<CmdResult> => exec(process.env.L4LB_IPTABLES ?? 'iptables', args);

/**
 * The kernel's services and destinations from `ipvsadm -Sn`, keyed like l4lb's
 * VIP keys: `tcp/198.51.100.7:80`, `udp/[fd01:c::1]:53` -> {scheduler, dests:
 * `ip:port` / `[ip6]:port` -> weight}.
 */
export async function ipvsTable(): Promise<Map<string, { scheduler: string; dests: Map<string, number> }>> {
  const out = new Map<string, { scheduler: string; dests: Map<string, number> }>();
  for (const line of (await ipvsadm('-S', '-n')).stdout.split('\n')) {
    const svc = /^-A -([tu]) (\S+) -s (\S+)/.exec(line);
    if (svc) out.set(`${svc[1] === 't' ? 'tcp' : 'udp'}/${svc[2]}`, { scheduler: svc[3]!, dests: new Map() });
    const dst = /^-a -([tu]) (\S+) -r (\S+) -m -w (\d+)/.exec(line);
    if (dst) out.get(`${dst[1] === 't' ? 'tcp' : 'udp'}/${dst[2]}`)?.dests.set(dst[3]!, Number(dst[4]));
  }
  return out;
}

/** Service lines of `ipvsadm -Sn` (e.g. "-A -t 198.51.100.10:80 -s rr"). */
export async function ipvsServices(): Promise<string[]> {
  const { stdout } = await ipvsadm('-S', '-n');
  return stdout.split('\n').filter((l) => l.startsWith('-A '));
}

/** Read or write a sysctl of this namespace, e.g. sysctl('net.ipv4.ip_forward', '1'). */
export async function sysctl(key: string, value?: string): Promise<string> {
  const path = `/proc/sys/${key.replace(/\./g, '/')}`;
  if (value !== undefined) await writeFile(path, value);
  return (await readFile(path, 'utf8')).trim();
}

/** Undo actions in reverse order; register with `after()` via cleanupAfter(). */
export class Cleanup {
  private readonly fns: (() => unknown)[] = [];
  add(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.fns.length > 0) {
      try {
        await this.fns.pop()!();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}

/** A Cleanup that runs after the file's tests (or the enclosing describe). */
export function cleanupAfter(): Cleanup {
  const c = new Cleanup();
  after(() => c.run());
  return c;
}

/** Create a dummy link carrying the given addresses (e.g. a VIP as /32). */
export async function addDummy(name: string, addrs: readonly string[], cleanup?: Cleanup): Promise<void> {
  await ip('link', 'add', name, 'type', 'dummy');
  cleanup?.add(() => run('ip', ['link', 'del', name]));
  for (const a of addrs) await ip('addr', 'add', a.includes('/') ? a : `${a}/32`, 'dev', name);
  await ip('link', 'set', name, 'up');
}

export interface Backend {
  /** Named netns (`ip netns exec <name> ...`). */
  name: string;
  /** veth end in the test's namespace, and its address. */
  hostIf: string;
  hostAddr: string;
  /** The backend's address (the real server address for ipvsadm). */
  addr: string;
  /** With `ipv6`: the IPv6 addresses of the veth ends (test's side, inside). */
  hostAddr6?: string;
  addr6?: string;
  /** Run a command inside the backend namespace (throws on failure). */
  exec(cmd: string, args?: readonly string[]): Promise<CmdResult>;
}

/**
 * A backend namespace `be<index>` joined to ours by a veth pair, its default
 * route pointing back at us (masquerading needs replies to come back through
 * the IPVS namespace). index 0..63. With `ipv6` it is dual-stack
 * (fd00:0:0:<index>::2, default route via ::1 on our side; no DAD wait).
 */
export async function createBackend(index: number, cleanup?: Cleanup, opts: { ipv6?: boolean } = {}): Promise<Backend> {
  if (!Number.isInteger(index) || index < 0 || index > 63) throw new RangeError('backend index must be 0..63');
  const name = `be${index}`;
  const hostIf = `vbe${index}`;
  const hostAddr = `203.0.113.${4 * index + 1}`;
  const addr = `203.0.113.${4 * index + 2}`;
  await ip('netns', 'add', name);
  // Deleting the netns destroys its veth end and therefore the pair.
  cleanup?.add(() => run('ip', ['netns', 'del', name]));
  await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
  await ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
  await ip('link', 'set', hostIf, 'up');
  await ip('-n', name, 'link', 'set', 'lo', 'up');
  await ip('-n', name, 'addr', 'add', `${addr}/30`, 'dev', 'eth0');
  await ip('-n', name, 'link', 'set', 'eth0', 'up');
  await ip('-n', name, 'route', 'add', 'default', 'via', hostAddr);
  const v6: Pick<Backend, 'hostAddr6' | 'addr6'> = {};
  if (opts.ipv6 === true) {
    v6.hostAddr6 = `fd00:0:0:${index}::1`;
    v6.addr6 = `fd00:0:0:${index}::2`;
    await ip('-6', 'addr', 'add', `${v6.hostAddr6}/64`, 'dev', hostIf, 'nodad');
    await ip('-n', name, '-6', 'addr', 'add', `${v6.addr6}/64`, 'dev', 'eth0', 'nodad');
    await ip('-n', name, '-6', 'route', 'add', 'default', 'via', v6.hostAddr6);
  }
  return {
    name, hostIf, hostAddr, addr, ...v6,
    exec: (cmd, args = []) => exec('ip', ['netns', 'exec', name, cmd, ...args]),
  };
}

/** Resolve once host:port accepts a TCP connection (servers take a moment to bind; UML is slow). */
export async function waitForTcp(host: string, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host, port });
        s.once('connect', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
      return;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms: ${String(last)}`);
}

export interface Server {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

function spawnInNs(ns: string, argv: readonly string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => process.stderr.write(`[${ns}] ${d}`));
  return child;
}

function stopper(child: ChildProcess, extra?: () => void): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    extra?.();
  };
}

/**
 * busybox httpd inside a backend namespace, serving `body` (default: the
 * namespace name) at `/`. Resolves once it accepts connections.
 */
export async function startHttpServer(backend: Backend, opts: { port?: number; body?: string } = {}, cleanup?: Cleanup): Promise<Server> {
  const port = opts.port ?? 80;
  const dir = mkdtempSync(join(tmpdir(), `l4lb-httpd-${backend.name}-`));
  writeFileSync(join(dir, 'index.html'), opts.body ?? backend.name);
  // `ip netns exec` execs busybox in place, so killing the child kills httpd.
  const child = spawnInNs(backend.name, ['busybox', 'httpd', '-f', '-p', String(port), '-h', dir]);
  const stop = stopper(child, () => rmSync(dir, { recursive: true, force: true }));
  cleanup?.add(stop);
  await waitForTcp(backend.addr, port);
  return { url: `http://${backend.addr}:${port}/`, process: child, stop };
}

/**
 * A node TCP server inside a backend namespace that writes `banner` (default:
 * the namespace name) to each connection and closes it.
 */
export async function startTcpServer(backend: Backend, opts: { port?: number; banner?: string } = {}, cleanup?: Cleanup): Promise<Server> {
  const port = opts.port ?? 7000;
  const script = `require('net').createServer((s) => s.end(process.argv[1])).listen(Number(process.argv[2]), '0.0.0.0')`;
  const child = spawnInNs(backend.name, [process.execPath, '-e', script, opts.banner ?? backend.name, String(port)]);
  const stop = stopper(child);
  cleanup?.add(stop);
  await waitForTcp(backend.addr, port);
  return { url: `tcp://${backend.addr}:${port}`, process: child, stop };
}

/** N sequential HTTP GETs to host:80 from inside a backend's namespace (node, fresh connection each): bodies or TIMEOUT/ERR. */
export async function getFrom(b: Backend, host: string, n: number, timeoutMs: number): Promise<string[]> {
  const script = `
const http = require('http');
const [host, n, to] = process.argv.slice(1);
(async () => {
  const out = [];
  for (let i = 0; i < Number(n); i++) {
    out.push(await new Promise((resolve) => {
      const req = http.get({ host, port: 80, path: '/', agent: false, timeout: Number(to) }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body.trim()));
      });
      req.on('timeout', () => { req.destroy(); resolve('TIMEOUT'); });
      req.on('error', (e) => resolve('ERR:' + (e.code || e.message)));
    }));
  }
  process.stdout.write(JSON.stringify(out));
})();`;
  const { stdout } = await b.exec(process.execPath, ['-e', script, host, String(n), String(timeoutMs)]);
  return JSON.parse(stdout) as string[];
}

/**
 * A node UDP server inside a backend namespace that answers every datagram
 * with `reply` (default: the namespace name), on IPv4 and IPv6. Resolves once
 * it answers.
 */
export async function startUdpServer(backend: Backend, opts: { port: number; reply?: string }, cleanup?: Cleanup): Promise<Server> {
  const script = `const s = require('dgram').createSocket('udp6'); s.on('message', (m, r) => s.send(process.argv[1], r.port, r.address)); s.bind(Number(process.argv[2]), '::')`;
  const child = spawnInNs(backend.name, [process.execPath, '-e', script, opts.reply ?? backend.name, String(opts.port)]);
  const stop = stopper(child);
  cleanup?.add(stop);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await udpAsk(backend.addr, opts.port, 'ping', 500);
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`no UDP answer from ${backend.addr}:${opts.port}: ${String(e)}`);
    }
  }
  return { url: `udp://${backend.addr}:${opts.port}`, process: child, stop };
}

/** One datagram from a new socket (so a new source port: a new IPVS flow); resolves with the first answer. */
export function udpAsk(host: string, port: number, text = 'ping', timeoutMs = 5_000, hold?: Array<{ close(): void }>): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error(`udp ${host}:${port}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('message', (m) => {
      clearTimeout(t);
      // `hold`: the caller closes it later, so the next socket cannot get this source port.
      if (hold) hold.push(s);
      else s.close();
      resolve(m.toString('utf8'));
    });
    s.once('error', (e) => {
      clearTimeout(t);
      s.close();
      reject(e);
    });
    s.send(text, port, host);
  });
}

/** GET a URL on a fresh connection (no keep-alive: each request is a new IPVS connection). */
export function httpGet(url: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Read everything a TCP server sends on one fresh connection. */
export function tcpRead(host: string, port: number, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: timeoutMs });
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (data += d));
    s.on('end', () => resolve(data));
    s.on('timeout', () => s.destroy(new Error(`${host}:${port}: no answer in ${timeoutMs} ms`)));
    s.on('error', reject);
  });
}
