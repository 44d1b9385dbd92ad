// The demo itself, as a newcomer would do it by hand on a DC/OS agent. It runs
// inside a real kernel with IPVS, in a fresh network namespace (started by
// test/demo/demo.ts), so nothing it does can touch the machine's network:
//
//   1. a Marathon (the project's emulator) with two apps carrying VIP labels,
//      whose tasks are real HTTP servers, each in its own network namespace
//      (one namespace per Mesos agent) answering with its task id;
//   2. `l4lb run --marathon URL`: the real daemon, as a child process;
//   3. the VIP's name resolved through l4lb's DNS, and 100 requests to it;
//   4. the operator's view: the real `l4lb` CLI against the daemon's socket;
//   5. one task killed in Marathon: it drains, leaves the kernel, and the
//      next 100 requests land on the two that are left;
//   6. everything stopped, and checked to be gone.
//
// Every step checks its own outcome. The script exits 0 only if all did what
// they said; otherwise it prints `FAILED: step N/6 (...)` and exits 1.

import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator, type Json } from '../emulators/marathon.js';
import { Cleanup, createBackend, httpGet, run, startHttpServer, type Backend, type Server } from '../kernel/lib.js';
import { Daemon } from '../kernel/e2e-lib.js';
import type { VipSummary } from '../../controller/status/types.js';
import {
  StepFailed, check, childProcesses, indent, kernelDestinations, lookup, printLandings, say, sendRequests, showCli, statusApi, statusJson, step, timed, until,
} from './helpers.js';

const STEPS = 6;
const ZONE = 'marathon.l4lb.thisdcos.directory';
/** l4lb's DNS listens here (its default): `dig @127.0.0.1 NAME` works as on a DC/OS agent. */
const DNS_SERVER = '127.0.0.1';
/**
 * Named VIPs get addresses from this pool instead of DC/OS's 11.0.0.0/8: a
 * documentation range, so no demo packet could ever be meant for a real host.
 */
const VIP_POOL = { min: '198.51.100.0', max: '198.51.100.255' };
/** How long a removed backend with connections may drain (l4lb's default is 5 minutes). */
const DRAIN_TIMEOUT = '3s';
const REQUESTS = 100;

/** A Marathon task as the demo needs it: where its real server listens. */
interface Task {
  id: string;
  app: string;
  /** The agent's address (host networking: the task listens on the agent's IP). */
  host: string;
  port: number;
  /** The agent namespace the server runs in. */
  agent: Backend;
  server?: Server;
}

/** Where a Marathon task JSON says its server is; throws if the emulator said something unexpected. */
function taskOf(json: Json, agents: readonly Backend[]): Task {
  const { id, appId, host, ports } = json;
  const port = Array.isArray(ports) ? ports[0] : undefined;
  if (typeof id !== 'string' || typeof appId !== 'string' || typeof host !== 'string' || typeof port !== 'number') {
    throw new Error(`unexpected task from the Marathon emulator: ${JSON.stringify(json)}`);
  }
  const agent = agents.find((a) => a.addr === host);
  if (agent === undefined) throw new Error(`task ${id} is on an unknown agent ${host}`);
  return { id, app: appId, host, port, agent };
}

/** The VIP (from the daemon's status API) that carries `name`. */
async function vipNamed(socket: string, name: string): Promise<VipSummary | undefined> {
  const vips = await statusJson<VipSummary[]>(socket, '/v1/l4lb/vips');
  return vips?.find((v) => v.names.includes(name));
}

/** The last lines the daemon logged, for a failure message. */
function daemonLog(d: Daemon): string {
  return `\n    last daemon log lines:\n${indent(d.lines.slice(-12).map((l) => JSON.stringify(l)).join('\n'))}`;
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  // The daemon's state dir and status socket: a temp dir, never the host's /run/l4lb.
  const work = mkdtempSync(join(tmpdir(), 'l4lb-demo-'));
  cleanup.add(() => rmSync(work, { recursive: true, force: true }));
  const socket = join(work, 'l4lb.sock');
  let marathon: MarathonEmulator | undefined;
  let daemon: Daemon | undefined;
  const agents: Backend[] = [];
  let myapp: Task[] = [];
  let api: Task[] = [];

  try {
    say('l4lb demo: a Marathon with two apps, l4lb in front of them, real traffic through the kernel\'s IPVS.');
    say(`This runs in a fresh network namespace of ${process.env.L4LB_KERNEL ?? 'a kernel with IPVS'}: nothing can leave it.`);

    // ---------------------------------------------------------------------------
    await step(1, STEPS, 'Marathon (emulator) with two apps carrying VIP labels; each task a real HTTP server', async () => {
      // Five Mesos agents, each a network namespace joined to ours by a veth
      // pair; Marathon places the tasks round-robin, so each task gets its own.
      for (let i = 0; i < 5; i++) agents.push(await createBackend(i, cleanup));
      const emulator = await MarathonEmulator.start({ agents: agents.map((a, i) => ({ id: `agent-${i}`, host: a.addr, ip: a.addr })) });
      marathon = emulator;
      cleanup.add(() => emulator.stop());
      say(`    Marathon API at ${emulator.url} (GET /v2/apps, event stream /v2/events)`);

      // Host networking and a VIP label on the port: what a DC/OS user writes in
      // the app definition. VIP_0 "/myapp:80" becomes myapp.marathon.l4lb.thisdcos.directory:80.
      const deploy = (id: string, instances: number, vip: string): Task[] =>
        emulator.deployApp({
          id, instances, networks: [{ mode: 'host' }],
          portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http', labels: { VIP_0: vip } }],
        }).map((t) => taskOf(t, agents));
      myapp = deploy('/myapp', 3, '/myapp:80');
      api = deploy('/api', 2, '/api:8080');

      // Marathon gave each task a host port on its agent; the "task" is busybox
      // httpd there, answering every request with its own task id.
      const width = Math.max(...[...myapp, ...api].map((t) => t.id.length));
      for (const t of [...myapp, ...api]) {
        t.server = await startHttpServer(t.agent, { port: t.port, body: t.id }, cleanup);
        say(`    ${t.app.padEnd(6)}  task ${t.id.padEnd(width)}  on agent ${t.agent.name} (netns) at ${t.host}:${t.port}`);
      }
      // Check: every task answers directly (not through l4lb yet) with its id.
      for (const t of [...myapp, ...api]) {
        const body = (await httpGet(`http://${t.host}:${t.port}/`)).body.trim();
        check(body === t.id, `task ${t.id} answered ${JSON.stringify(body)} directly`);
      }
      say('    every task answers with its own id when asked directly');
    });

    // ---------------------------------------------------------------------------
    await step(2, STEPS, 'start `l4lb run` against Marathon, with DNS on 127.0.0.1:53', async () => {
      const args = [
        'run',
        '--marathon', marathon!.url,
        '--dns-listen', `${DNS_SERVER}:53`,
        '--vips-ipv4-min', VIP_POOL.min, '--vips-ipv4-max', VIP_POOL.max,
        '--ipvs-drain-timeout', DRAIN_TIMEOUT,
        '--status-socket', socket,
        '--state-dir', join(work, 'state'),
        '--dataplane-iptables', process.env.L4LB_IPTABLES ?? 'iptables',
        '--log-format', 'json',
      ];
      say(`    $ l4lb ${args.join(' ')}`);
      const d = new Daemon(args.slice(1));
      daemon = d;
      cleanup.add(() => d.kill('SIGKILL'));
      // Ready: the daemon read Marathon and programmed the kernel (/readyz), and
      // both VIPs forward to all their tasks.
      const { took } = await timed(() =>
        until('l4lb to be ready with both VIPs forwarding', async () => {
          if (d.proc.exitCode !== null) throw new Error(`l4lb run exited with code ${d.proc.exitCode}${daemonLog(d)}`);
          if ((await statusApi(socket, '/readyz').catch(() => undefined))?.status !== 200) return undefined;
          const vips = await statusJson<VipSummary[]>(socket, '/v1/l4lb/vips');
          const forwarding = vips?.filter((v) => v.forwarding && v.backends.ready === v.backends.total && v.backends.total > 0);
          return forwarding?.length === 2 ? forwarding : undefined;
        }, 60_000).catch((e: Error) => {
          throw new Error(e.message.includes('last daemon log') ? e.message : `${e.message}${daemonLog(d)}`);
        }),
      );
      say(`    ready after ${took}: it read both apps from Marathon, gave each VIP an address and programmed IPVS`);
      say(`    (the CLI below finds the daemon through L4LB_STATUS_SOCKET=${socket})`);
    });

    // ---------------------------------------------------------------------------
    const myappName = `myapp.${ZONE}`;
    let myappVip = '';
    await step(3, STEPS, `resolve ${myappName} through l4lb's DNS, then send it ${REQUESTS} requests`, async () => {
      const answer = await until(`an A record for ${myappName}`, async () => {
        const l = await lookup(DNS_SERVER, myappName);
        return l.addresses.length > 0 ? l : undefined;
      }, 10_000);
      say(indent(answer.shown, '    '));
      myappVip = answer.addresses[0]!;
      const vip = await vipNamed(socket, myappName);
      check(vip?.address === myappVip, `DNS says ${myappVip}, the daemon's status says ${vip?.address ?? 'nothing'}`);

      const url = `http://${myappVip}:80/`;
      say(`    ${REQUESTS} GETs of ${url}, each on a new connection (IPVS picks a task per connection, wlc):`);
      const landed = await sendRequests(url, REQUESTS);
      printLandings(landed, myapp.map((t) => t.id));
      check(landed.unanswered === 0, `${landed.unanswered} of ${REQUESTS} requests got no answer (${landed.firstError ?? ''})`);
      for (const t of myapp) check((landed.byTask.get(t.id) ?? 0) > 0, `task ${t.id} got no request`);
      check([...landed.byTask.keys()].every((id) => myapp.some((t) => t.id === id)), 'an answer came from something that is not a myapp task');
      say(`    ${REQUESTS}/${REQUESTS} answered, every task served some`);

      // The second app answers under its own name and port.
      const apiName = `api.${ZONE}`;
      const apiAnswer = await lookup(DNS_SERVER, apiName);
      check(apiAnswer.addresses.length > 0, `no A record for ${apiName}`);
      const apiLanded = await sendRequests(`http://${apiAnswer.addresses[0]!}:8080/`, 10);
      say(`    and ${apiName} is ${apiAnswer.addresses[0]!}; 10 GETs of port 8080:`);
      printLandings(apiLanded, api.map((t) => t.id));
      check(apiLanded.unanswered === 0 && api.every((t) => (apiLanded.byTask.get(t.id) ?? 0) > 0), 'the api app did not answer on both tasks');
    });

    // ---------------------------------------------------------------------------
    await step(4, STEPS, 'what an operator sees: the l4lb CLI (bin/l4lb) against the daemon', async () => {
      const list = await showCli(socket, ['get', 'vips', '-o', 'wide']);
      check(list.includes('myapp.marathon') && list.includes('api.marathon'), '`get vips` does not list both VIPs');
      say();
      const detail = await showCli(socket, ['describe', 'vip', 'myapp']);
      check(new RegExp(`^Name: +${myappName.replace(/\./g, '\\.')}$`, 'm').test(detail), '`describe vip myapp` does not name the VIP');
    });

    // ---------------------------------------------------------------------------
    const victim = myapp[0]!;
    const victimEndpoint = `${victim.host}:${victim.port}`;
    const survivors = myapp.slice(1);
    await step(5, STEPS, `kill task ${victim.id} in Marathon: it drains, leaves the kernel, traffic goes to the other two`, async () => {
      await showCli(socket, ['get', 'backends', 'myapp']);

      // Marathon kills in two stages: TASK_KILLING (the task got SIGTERM and
      // may finish what it is doing), then TASK_KILLED. l4lb sets a killing
      // task's weight to 0 at once: no new connections, existing ones go on.
      marathon!.killTask(victim.id, { keepKilling: true });
      say(`\n    Marathon: ${victim.id} is TASK_KILLING`);
      const draining = await timed(() =>
        until('the killed task to be draining (weight 0 in the kernel)', async () => {
          const inKernel = kernelDestinations(myappVip, 80)?.get(victimEndpoint);
          const vip = await vipNamed(socket, myappName);
          const state = vip?.backendList.find((b) => `${b.ip}:${b.port}` === victimEndpoint)?.state;
          return inKernel === 0 && state === 'draining' ? true : undefined;
        }, 15_000),
      );
      say(`    ${draining.took} later l4lb has set its weight to 0 in the kernel (state draining):`);
      await showCli(socket, ['get', 'backends', 'myapp']);

      // TASK_KILLED: the task is gone from Marathon. l4lb deletes the IPVS
      // destination once its connections are gone or the drain timeout passed.
      marathon!.killTask(victim.id);
      say(`\n    Marathon: ${victim.id} is TASK_KILLED; l4lb removes it once drained (at most --ipvs-drain-timeout ${DRAIN_TIMEOUT})`);
      const removed = await timed(() =>
        until('the kernel to have exactly the 2 remaining destinations', async () => {
          const dests = kernelDestinations(myappVip, 80);
          return dests?.size === 2 && !dests.has(victimEndpoint) ? true : undefined;
        }, 30_000),
      );
      say(`    ${removed.took} later the kernel has 2 destinations for ${myappVip}:80:`);
      await showCli(socket, ['get', 'backends', 'myapp']);

      // The killed task's server is deliberately still running: if IPVS still
      // sent it anything, it would answer and show up in the counts below.
      const url = `http://${myappVip}:80/`;
      say(`\n    ${REQUESTS} GETs of ${url} again:`);
      const landed = await sendRequests(url, REQUESTS);
      printLandings(landed, myapp.map((t) => t.id), (id) => (id === victim.id ? '   (killed; its server still runs)' : ''));
      check(landed.unanswered === 0, `${landed.unanswered} of ${REQUESTS} requests got no answer (${landed.firstError ?? ''})`);
      check((landed.byTask.get(victim.id) ?? 0) === 0, `the killed task ${victim.id} still got ${landed.byTask.get(victim.id) ?? 0} requests`);
      for (const t of survivors) check((landed.byTask.get(t.id) ?? 0) > 0, `task ${t.id} got no request`);
      say(`    ${REQUESTS}/${REQUESTS} answered, only by the 2 remaining tasks`);
      await victim.server?.stop();
    });

    // ---------------------------------------------------------------------------
    await step(6, STEPS, 'stop everything and check that nothing is left behind', async () => {
      const d = daemon!;
      await d.kill('SIGTERM');
      check(d.proc.exitCode === 0, `l4lb run exited with ${d.proc.exitCode ?? d.proc.signalCode} on SIGTERM${daemonLog(d)}`);
      say('    l4lb run stopped cleanly on SIGTERM (exit 0; it leaves the kernel forwarding, by design)');
      await cleanup.run();
      say(`    stopped ${myapp.length + api.length} task servers and the Marathon emulator; deleted ${agents.length} agent namespaces and ${work}`);
      const namespaces = (await run('ip', ['netns', 'list'])).stdout.trim();
      check(namespaces === '', `network namespaces left: ${namespaces}`);
      const children = childProcesses();
      check(children.length === 0, `processes left: ${children.join(', ')}`);
      check(!existsSync(work), `${work} is still there`);
      say('    no process, namespace or file of the demo is left; the VIPs and IPVS table go with this network namespace');
    });
    say(`\nall ${STEPS} steps did what they said.`);
    return 0;
  } catch (e) {
    if (!(e instanceof StepFailed)) say(`\nFAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return 1;
  } finally {
    // After a failure, stop whatever is still running (a no-op after step 6).
    await cleanup.run().catch((e: Error) => say(`cleanup: ${e.message}`));
  }
}

process.exitCode = await main();
