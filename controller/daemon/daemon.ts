// `l4lb run`: the wiring of one node's daemon. Data flows one way:
// sources -> VIP table -> reconciler -> kernel (IPVS, then addresses, then
// DNS). Start order matters for zero-churn restarts: the reconciler starts
// only once every source has given its first complete view, so a restart
// never sees an empty desired table and never deletes a forwarding VIP.
// Stopping leaves the kernel as it is: forwarding continues while l4lb is down.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import { VipTable, type ChangeSummary } from '../model/index.js';
import { createSources, type SourcesOptions } from '../sources/index.js';
import type { LabelRejection } from '../model/index.js';
import type { Source, SourceSink, SourceStatus } from '../sources/types.js';
import { realTimers } from '../sources/timers.js';
import { FileOwnershipStore, Ownership, Reconciler, serviceKeyOf, type Kernel, type PassResult } from '../reconcile/index.js';
import { Dataplane } from '../dataplane/index.js';
import { DnsServer } from '../dns/server.js';
import { IpvsHandle } from '../../native/ipvs/index.js';
import { Announcer } from './announce.js';
import { Metrics } from '../metrics/index.js';
import { StatusRecorder, StatusServer, createApiHandler } from '../status/index.js';
import { versionInfo } from '../cli/version.js';

export class DaemonError extends Error {
  readonly code = 'ERR_DAEMON';
  constructor(message: string) {
    super(message);
    this.name = 'DaemonError';
  }
}

/** Reads a secret file (token, user:password) with an error that names it. */
function secret(path: string, what: string): string {
  try {
    const v = readFileSync(path, 'utf8').trim();
    if (!v) throw new DaemonError(`${what} file ${path} is empty`);
    return v;
  } catch (e) {
    if (e instanceof DaemonError) throw e;
    throw new DaemonError(`cannot read ${what} file ${path}: ${(e as Error).message}`);
  }
}

export function sourcesOptions(cfg: Config): SourcesOptions {
  const auth = cfg.auth.tokenFile
    ? { token: secret(cfg.auth.tokenFile, 'DC/OS token') }
    : cfg.auth.basicFile
      ? (() => {
          const v = secret(cfg.auth.basicFile, 'basic auth');
          const i = v.indexOf(':');
          if (i <= 0) throw new DaemonError(`basic auth file ${cfg.auth.basicFile} must hold user:password`);
          return { basic: { username: v.slice(0, i), password: v.slice(i + 1) } };
        })()
      : undefined;
  const common = { ...(auth ? { auth } : {}), ...(cfg.tls.caFile ? { caFile: cfg.tls.caFile } : {}) };
  const o: SourcesOptions = {};
  if (cfg.mesos.masters.length) o.mesos = { masters: cfg.mesos.masters, ...common };
  if (cfg.marathon.urls.length) o.marathon = { urls: cfg.marathon.urls, framework: cfg.marathon.framework, ...common };
  if (cfg.file.paths.length) o.file = cfg.file.paths.map((path) => ({ path }));
  const k = cfg.kubernetes;
  if (k.enabled || k.kubeconfig !== undefined) {
    o.kubernetes = { ...(k.kubeconfig !== undefined && { kubeconfig: k.kubeconfig }), ...(k.context !== undefined && { context: k.context }), ...(k.namespace !== undefined && { namespace: k.namespace }) };
  }
  return o;
}

export interface DaemonState {
  startedAt: Date;
  /** Every source has given a complete view and the reconciler runs. */
  ready: boolean;
  sources: SourceStatus[];
  lastPass?: PassResult;
  passes: number;
}

export class Daemon {
  private readonly table: VipTable;
  private readonly sources: Source[];
  private readonly statuses = new Map<string, SourceStatus>();
  private readonly log: Logger;
  private ipvs: IpvsHandle | undefined;
  private dataplane: Dataplane | undefined;
  private reconciler: Reconciler | undefined;
  private dns: DnsServer | undefined;
  private announcer: Announcer | undefined;
  private readonly state: DaemonState = { startedAt: new Date(), ready: false, sources: [], passes: 0 };
  private stopping = false;
  private publishedDnsGen = -1;
  /** Operator surface: metrics, the status API and what it reports (read-only). */
  readonly metrics: Metrics;
  readonly recorder: StatusRecorder;
  private statusServer: StatusServer | undefined;
  /** A second IPVS handle for the status API's reads with counters, apart from the reconciler's. */
  private statusIpvs: IpvsHandle | undefined;
  private readonly sourceRejected = new Map<string, readonly LabelRejection[]>();

  constructor(
    private readonly cfg: Config,
    logger: Logger,
  ) {
    this.log = logger;
    this.table = new VipTable({
      ipv4Min: cfg.vips.ipv4Min,
      ipv4Max: cfg.vips.ipv4Max,
      ipv6Min: cfg.vips.ipv6Min,
      ipv6Max: cfg.vips.ipv6Max,
      ipv6Enabled: cfg.vips.ipv6,
    });
    const opts = sourcesOptions(cfg);
    if (!opts.mesos && !opts.marathon && !opts.file && !opts.kubernetes) {
      throw new DaemonError('no source configured: give --mesos URL, --marathon URL, --file PATH, --kubernetes-enabled true or --kubernetes-kubeconfig FILE (or mesos.masters, marathon.urls, file.paths, kubernetes.enabled, kubernetes.kubeconfig in the config file)');
    }
    this.sources = createSources(opts, logger.child({ component: 'source' }));
    // Known from the start, so status shows them (connecting) before they start.
    for (const s of this.sources) this.statuses.set(s.id, s.status());
    const version = versionInfo().version;
    this.metrics = new Metrics(
      {
        sources: () => [...this.statuses.values()],
        dnsQueries: () => this.dns?.counters.byTypeRcode,
        rejectedLabels: () => this.rejected().length,
        ready: () => this.recorder.ready(),
      },
      { version },
    );
    this.recorder = new StatusRecorder(
      {
        version,
        startedAt: this.state.startedAt,
        scheduler: cfg.ipvs.scheduler,
        resyncIntervalMs: cfg.reconcile.resyncIntervalMs,
        vips: () => this.table.vips(),
        rejected: () => this.rejected(),
        sources: () => [...this.statuses.values()],
        synced: () => this.state.ready,
        isForwarding: (k) => this.announcer?.isForwarding(k) ?? false,
        drains: (k) => this.reconciler?.drains.entries(k) ?? [],
        kernel: () => this.statusIpvs,
        serviceKey: serviceKeyOf,
        dns: () => (this.dns ? { listen: this.dns.addresses(), queries: this.dns.counters.queries, responses: { ...this.dns.counters.responses } } : undefined),
      },
      this.metrics,
    );
  }

  /** Labels the model skipped plus bad records the sources reported. */
  private rejected(): LabelRejection[] {
    const out = [...this.table.rejected()];
    for (const r of this.sourceRejected.values()) out.push(...r);
    return out;
  }

  /** Opens the kernel interfaces, prepares the node, starts DNS and the sources. */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (e) {
      // Close what did start (listening sockets would keep the process alive).
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  private async startParts(): Promise<void> {
    const cfg = this.cfg;
    // First: a second daemon on this node stops here, before it touches anything.
    this.statusServer = new StatusServer({
      socket: cfg.status.socket,
      listen: cfg.status.listen,
      allowNonLoopback: cfg.status.allowNonLoopback,
      handler: createApiHandler(this.recorder, this.log.child({ component: 'status' })),
    });
    await this.statusServer.start();
    this.log.info('status API listening', { component: 'status', addresses: this.statusServer.addresses() });
    this.ipvs = IpvsHandle.open();
    this.statusIpvs = IpvsHandle.open();
    const info = this.ipvs.info();
    const t = cfg.ipvs;
    if (t.tcpTimeoutMs !== undefined || t.tcpFinTimeoutMs !== undefined || t.udpTimeoutMs !== undefined) {
      const sec = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms / 1000));
      this.ipvs.setTimeouts({ tcp: sec(t.tcpTimeoutMs) ?? 0, tcpFin: sec(t.tcpFinTimeoutMs) ?? 0, udp: sec(t.udpTimeoutMs) ?? 0 });
    }
    const timeouts = this.ipvs.getTimeouts();
    this.log.info('ipvs ready', { component: 'daemon', version: info.version, connectionTableSize: info.connectionTableSize, timeouts });

    this.dataplane = new Dataplane({
      logger: this.log.child({ component: 'dataplane' }),
      link: cfg.dataplane.interface,
      hairpin: cfg.dataplane.hairpin,
      iptables: cfg.dataplane.iptables,
      ipv6: cfg.vips.ipv6,
      pools: cfg.dataplane.poolRoutes
        ? [{ min: cfg.vips.ipv4Min, max: cfg.vips.ipv4Max }, ...(cfg.vips.ipv6 ? [{ min: cfg.vips.ipv6Min, max: cfg.vips.ipv6Max }] : [])]
        : [],
    });
    const report = await this.dataplane.start();
    this.log[report.ok ? 'info' : 'warn']('node dataplane ready', {
      component: 'dataplane',
      link: report.link,
      kernel: report.kernelRelease,
      problems: report.problems,
      ms: Math.round(report.ms),
    });

    if (cfg.dns.listen.length) {
      this.dns = new DnsServer({ listen: cfg.dns.listen, logger: this.log.child({ component: 'dns' }) });
      await this.dns.start();
      this.log.info('dns listening', { component: 'dns', addresses: this.dns.addresses() });
    }
    const dp = this.dataplane;
    this.announcer = new Announcer(
      { addAddresses: (a) => dp.addAddresses(a), removeAddresses: (a) => dp.removeAddresses(a) },
      () => this.table.names(),
      (zone) => this.dns?.setZone(zone),
      () => this.table.vips(),
    );

    const sink: SourceSink = {
      replace: (id, tasks) => this.changed(this.table.replaceSource(id, tasks)),
      upsert: (task) => this.changed(this.table.upsertTask(task)),
      remove: (ref) => this.changed(this.table.removeTask(ref)),
      rejected: (id, list) => this.sourceRejected.set(id, [...list]),
      status: (s) => this.sourceStatus(s),
    };
    for (const s of this.sources) {
      this.statuses.set(s.id, s.status());
      s.start(sink);
    }
    this.log.info('waiting for every source to give a complete view before reconciling', {
      component: 'daemon',
      sources: this.sources.map((s) => s.id),
    });
  }

  private changed(summary: ChangeSummary): void {
    if (summary.changed.length === 0) return;
    this.recorder.changed(summary.changed, (k) => this.table.vip(k) !== undefined);
    this.reconciler?.markMany(summary.changed);
    // Backend changes do not touch DNS: rebuild the zone only when names, addresses or port names moved.
    if (this.table.dnsGeneration !== this.publishedDnsGen) {
      this.publishedDnsGen = this.table.dnsGeneration;
      this.announcer?.publishSoon();
    }
  }

  private sourceStatus(s: SourceStatus): void {
    const prev = this.statuses.get(s.id);
    this.statuses.set(s.id, s);
    if (prev?.state !== s.state) {
      this.log[s.state === 'stale' ? 'warn' : 'info']('source state', {
        component: 'source',
        source: s.id,
        state: s.state,
        endpoint: s.endpoint,
        tasks: s.tasks,
        ...(s.lastError ? { error: s.lastError } : {}),
      });
    }
    if (!this.reconciler && !this.stopping && [...this.statuses.values()].every((x) => x.state === 'synced')) this.startReconciler();
    // A source that reconnected replaced its view in one step: check everything against the kernel.
    else if (this.reconciler && prev?.state === 'stale' && s.state === 'synced') this.reconciler.resync();
  }

  private startReconciler(): void {
    const cfg = this.cfg;
    const announcer = this.announcer!;
    const ipvs = this.ipvs!;
    // The reconciler needs weights and connection counts, never traffic counters: skip decoding them.
    // Every call is counted: operations by kind and result, netlink errors by errno.
    const metrics = this.metrics;
    const counted = <T>(read: () => T): T => {
      try {
        return read();
      } catch (e) {
        const errno = (e as { errnoName?: string }).errnoName;
        if (errno) metrics.netlinkError(errno);
        throw e;
      }
    };
    const kernel: Kernel = {
      services: () => counted(() => ipvs.services({ stats: false })),
      service: (k) => counted(() => ipvs.service(k, { stats: false })),
      destinations: (k) => counted(() => ipvs.destinations(k, { stats: false })),
      apply: (ops) => {
        const results = counted(() => ipvs.apply(ops));
        metrics.ipvsResults(results);
        return results;
      },
    };
    this.reconciler = new Reconciler({
      kernel,
      desired: this.table,
      ownership: Ownership.load(new FileOwnershipStore({ path: join(cfg.stateDir, 'owned.json') })),
      timers: realTimers,
      config: { scheduler: cfg.ipvs.scheduler, drainTimeoutMs: cfg.ipvs.drainTimeoutMs, forward: 'masq' },
      minIntervalMs: cfg.reconcile.minIntervalMs,
      yieldToIo: (fn) => void setImmediate(fn),
      resyncMs: cfg.reconcile.resyncIntervalMs,
      hooks: { afterAdd: (keys) => announcer.added(keys), beforeRemove: (keys) => announcer.removing(keys) },
      onPass: (r) => this.onPass(r),
      logger: this.log.child({ component: 'reconcile' }),
    });
    this.state.ready = true;
    this.recorder.reconciling();
    this.log.info('every source synced: reconciling', { component: 'daemon', vips: this.table.vips().length });
    this.reconciler.start();
  }

  private onPass(r: PassResult): void {
    this.state.passes++;
    this.state.lastPass = r;
    this.recorder.pass(r);
    // A full pass also checks the node: addresses, sysctls, the hairpin rule.
    if (r.full && this.dataplane && !this.stopping) {
      void this.dataplane.check().then((c) => {
        if (c.repaired.length || c.problems.length) {
          this.log.warn('node dataplane repaired', { component: 'dataplane', repaired: c.repaired, problems: c.problems });
        }
      });
    }
  }

  /** A read-only view for status, metrics and tests. */
  status(): DaemonState {
    return { ...this.state, sources: [...this.statuses.values()] };
  }

  get vipTable(): VipTable {
    return this.table;
  }

  /** Stops watching and serving; the kernel's IPVS table, addresses and rules stay as they are. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.sources.map((s) => s.stop()));
    await this.reconciler?.stop();
    await this.dns?.stop();
    await this.statusServer?.stop();
    this.dataplane?.stop();
    this.ipvs?.close();
    this.statusIpvs?.close();
  }
}
