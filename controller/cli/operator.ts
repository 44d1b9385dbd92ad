// `l4lb get`, `describe`, `endpoints`, `status`: read the running daemon's
// status API (unix socket by default, `--socket PATH` or `--server URL`).

import { Command, Option } from 'commander';
import { ApiClient, ApiRequestError, DEFAULT_SOCKET } from './client.js';
import { parseOutput, toJson, UsageError } from './output/format.js';
import {
  diffVips, endpointsOf, renderBackendDetails, renderBackends, renderDescribe, renderNames, renderStatus, renderVips,
  renderWatchEvents, toYaml, type WatchEvent,
} from './output/operator.js';
import type { StatusView, VipDetail, VipSummary } from '../status/types.js';

export interface OperatorIo {
  out: (s: string) => void;
  now: () => number;
  /** Resolves after ms; the watch loop's pace (a fake in tests). */
  sleep: (ms: number) => Promise<void>;
}

interface ApiOpts {
  socket?: string;
  server?: string;
}

/** A VIP reference was not found (exit 1, like kubectl's NotFound). */
export class NotFoundError extends Error {
  readonly code = 'ERR_NOT_FOUND';
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

function withApi(cmd: Command): Command {
  return cmd
    .option('--socket <path>', `the daemon's status socket [env L4LB_STATUS_SOCKET; default ${DEFAULT_SOCKET}]`)
    .option('--server <url>', 'the status API over TCP instead, e.g. http://127.0.0.1:9090 (status.listen) [env L4LB_SERVER]');
}

function client(o: ApiOpts): ApiClient {
  const server = o.server ?? process.env.L4LB_SERVER;
  if (server) return new ApiClient({ server });
  return new ApiClient({ socket: o.socket ?? process.env.L4LB_STATUS_SOCKET ?? DEFAULT_SOCKET });
}

async function details(api: ApiClient, ref: string): Promise<VipDetail[]> {
  try {
    return (await api.json<{ items: VipDetail[] }>(`/v1/l4lb/vips/${encodeURIComponent(ref)}`)).items;
  } catch (e) {
    if (e instanceof ApiRequestError && e.status === 404) throw new NotFoundError(`vip ${JSON.stringify(ref)} not found (see l4lb get vips)`);
    throw e;
  }
}

const VIP_FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;

export function registerOperator(program: Command, io: OperatorIo): void {
  const get = program.command('get').description('list VIPs or backends from the running daemon');

  withApi(get.command('vips').alias('vip').description('list the VIPs: names, address, protocol, port, ready/total backends, scheduler, age'))
    .addOption(new Option('-o, --output <format>', `output format: ${VIP_FORMATS.join('|')}`).default('table'))
    .option('-w, --watch', 'after the list, print a line per change (ADDED, MODIFIED, DELETED) until interrupted')
    .option('--interval <seconds>', 'how often --watch polls', '1')
    .action(async (opts: ApiOpts & { output: string; watch?: boolean; interval: string }) => {
      const fmt = parseOutput(opts.output, VIP_FORMATS);
      const interval = Number(opts.interval);
      if (!Number.isFinite(interval) || interval < 0.1) throw new UsageError('--interval must be a number of seconds >= 0.1');
      const api = client(opts);
      const first = await api.get<VipSummary[]>('/v1/l4lb/vips');
      const vips = first.body ?? [];
      const print = (list: VipSummary[]) => {
        if (fmt === 'json') io.out(toJson(list));
        else if (fmt === 'yaml') io.out(toYaml(list));
        else if (fmt === 'name') io.out(renderNames(list));
        else io.out(renderVips(list, { wide: fmt === 'wide', now: io.now() }));
      };
      if (!opts.watch) return print(vips);
      await watch(api, io, fmt, vips, first.etag, interval * 1000);
    });

  withApi(get.command('backends').alias('backend').argument('[vip]', 'a VIP: name, IP:PORT or key; with it, live connection counts').description('list backends with weight, state, task and framework'))
    .addOption(new Option('-o, --output <format>', 'output format: table|json|yaml').default('table'))
    .action(async (ref: string | undefined, opts: ApiOpts & { output: string }) => {
      const fmt = parseOutput(opts.output, ['table', 'json', 'yaml'] as const);
      const api = client(opts);
      if (ref !== undefined) {
        const list = await details(api, ref);
        const backends = list.flatMap((v) => v.backendList.map((b) => ({ vip: v.key, ...b })));
        io.out(fmt === 'json' ? toJson(backends) : fmt === 'yaml' ? toYaml(backends) : renderBackendDetails(list));
        return;
      }
      const list = await api.json<VipSummary[]>('/v1/l4lb/vips');
      const backends = list.flatMap((v) => v.backendList.map((b) => ({ vip: v.key, ...b })));
      io.out(fmt === 'json' ? toJson(backends) : fmt === 'yaml' ? toYaml(backends) : renderBackends(list));
    });

  const describe = program.command('describe').description('show one VIP in detail');
  withApi(
    describe
      .command('vip')
      .argument('<vip>', 'a name (myapp.marathon, its FQDN, or myapp), IP:PORT, IP, or a key (tcp/198.51.100.7:80)')
      .description('names, address, sources, every backend with weight, state, task and live kernel counters, recent events'),
  )
    .addOption(new Option('-o, --output <format>', 'output format: text|json|yaml').default('text'))
    .action(async (ref: string, opts: ApiOpts & { output: string }) => {
      const fmt = parseOutput(opts.output, ['text', 'json', 'yaml'] as const);
      const list = await details(client(opts), ref);
      io.out(fmt === 'json' ? toJson(list) : fmt === 'yaml' ? toYaml(list) : renderDescribe(list, io.now()));
    });

  withApi(
    program
      .command('endpoints')
      .argument('<name>', 'a VIP name (myapp.marathon, broker.kafka), with :PORT when it has several ports')
      .description('the DC/OS endpoints JSON of a VIP: serving backend addresses, DNS names, the VIP'),
  ).action(async (ref: string, opts: ApiOpts) => {
    const list = await details(client(opts), ref);
    io.out(toJson(endpointsOf(ref, list)));
  });

  withApi(program.command('status').description('the daemon: sources and their state, last reconcile pass, drift repairs, errors, rejected labels'))
    .addOption(new Option('-o, --output <format>', 'output format: text|json|yaml').default('text'))
    .action(async (opts: ApiOpts & { output: string }) => {
      const fmt = parseOutput(opts.output, ['text', 'json', 'yaml'] as const);
      const s = await client(opts).json<StatusView>('/v1/status');
      io.out(fmt === 'json' ? toJson(s) : fmt === 'yaml' ? toYaml(s) : renderStatus(s, io.now()));
    });
}

/** Polls with If-None-Match; prints what changed, kubectl-watch style. Ends only on an error (or a signal). */
async function watch(api: ApiClient, io: OperatorIo, fmt: (typeof VIP_FORMATS)[number], initial: VipSummary[], etag: string | undefined, everyMs: number): Promise<void> {
  let prev = new Map<string, VipSummary>();
  let tag: string | undefined;
  let header = true;
  const emit = (events: WatchEvent[]) => {
    if (events.length === 0) return;
    if (fmt === 'json') for (const e of events) io.out(JSON.stringify(e) + '\n');
    else if (fmt === 'yaml') for (const e of events) io.out('---\n' + toYaml(e));
    else if (fmt === 'name') for (const e of events) io.out(`${e.type} ${e.object.key}\n`);
    else {
      io.out(renderWatchEvents(events, { wide: fmt === 'wide', now: io.now(), header }));
      header = false;
    }
  };
  let list = initial;
  tag = etag;
  for (;;) {
    emit(diffVips(prev, list));
    prev = new Map(list.map((v) => [v.key, v]));
    await io.sleep(everyMs);
    const r = await api.get<VipSummary[]>('/v1/l4lb/vips', tag);
    if (r.status === 304 || !r.body) continue;
    tag = r.etag;
    list = r.body;
  }
}
