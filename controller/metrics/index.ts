// Prometheus metrics of `l4lb run`, in a registry of their own (never the
// global one: a test or a library cannot add to it by accident). Names follow
// Prometheus conventions: `l4lb_` prefix, base units (seconds), `_total` for
// counters. Node's default process metrics (`process_*`, `nodejs_*`) keep
// their standard names so stock dashboards work.
//
// Counters are fed by the daemon as things happen; values another component
// already keeps (source states, DNS counters) are read at scrape time.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PassResult } from '../reconcile/index.js';
import type { SourceState, SourceStatus } from '../sources/types.js';
import type { IpvsOpKind, OpResult } from '../../native/ipvs/index.js';

const SOURCE_STATES: readonly SourceState[] = ['connecting', 'synced', 'stale', 'stopped'];

/** What the metrics read at scrape time. */
export interface MetricsReadings {
  sources(): readonly SourceStatus[];
  /** DNS queries by question type and response code, cumulative; undefined when DNS is off. */
  dnsQueries?(): ReadonlyMap<string, number> | undefined;
  /** Labels skipped by the model, now. */
  rejectedLabels(): number;
  ready(): boolean;
}

export interface MetricsOptions {
  version: string;
  /** Default process metrics (CPU, memory, event loop lag, GC); default true. */
  processMetrics?: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly passDuration: Histogram<'trigger'>;
  private readonly passes: Counter<'trigger' | 'result'>;
  private readonly eventToKernel: Histogram;
  private readonly ipvsOps: Counter<'kind' | 'result'>;
  private readonly netlinkErrors: Counter<'errno'>;
  private readonly reconcileErrors: Counter<'code'>;
  private readonly driftRepairs: Counter;
  private readonly vips: Gauge;
  private readonly backends: Gauge;
  private readonly draining: Gauge;

  constructor(readings: MetricsReadings, opts: MetricsOptions) {
    const registers = [this.registry];
    new Gauge({ name: 'l4lb_build_info', help: 'Always 1; the l4lb version as a label.', labelNames: ['version'], registers }).set({ version: opts.version }, 1);
    new Gauge({
      name: 'l4lb_ready',
      help: '1 once the first reconcile pass succeeded (what /readyz says), else 0.',
      registers,
      collect() {
        this.set(readings.ready() ? 1 : 0);
      },
    });
    this.passDuration = new Histogram({
      name: 'l4lb_reconcile_pass_duration_seconds',
      help: 'Duration of reconcile passes (read, plan, apply, announce), by what triggered them.',
      labelNames: ['trigger'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.passes = new Counter({
      name: 'l4lb_reconcile_passes_total',
      help: 'Reconcile passes, by trigger and result (ok: no error; error: some VIP or the whole pass failed).',
      labelNames: ['trigger', 'result'],
      registers,
    });
    this.eventToKernel = new Histogram({
      name: 'l4lb_event_to_kernel_seconds',
      help: 'From a source change that touched a VIP to the end of the pass that applied it to the kernel without error.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    });
    this.ipvsOps = new Counter({
      name: 'l4lb_ipvs_operations_total',
      help: 'IPVS write operations sent to the kernel, by kind (add-service, edit-destination...) and result (ok, error).',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.netlinkErrors = new Counter({
      name: 'l4lb_netlink_errors_total',
      help: 'Errors the kernel answered to IPVS netlink requests (reads and writes), by errno name.',
      labelNames: ['errno'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'l4lb_reconcile_errors_total',
      help: 'Errors reported by reconcile passes, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.driftRepairs = new Counter({
      name: 'l4lb_drift_repairs_total',
      help: 'Kernel changes a periodic resync made because the kernel had drifted from what l4lb programmed (e.g. ipvsadm -D).',
      registers,
    });
    this.vips = new Gauge({ name: 'l4lb_vips', help: 'VIPs (IPVS services) in the desired table.', registers });
    this.backends = new Gauge({ name: 'l4lb_backends', help: 'Backends (IPVS destinations) in the desired table.', registers });
    this.draining = new Gauge({ name: 'l4lb_backends_draining', help: 'Removed backends kept at weight 0 until their connections end.', registers });
    new Gauge({
      name: 'l4lb_rejected_labels',
      help: 'VIP labels the model skipped (see l4lb status for the reasons).',
      registers,
      collect() {
        this.set(readings.rejectedLabels());
      },
    });
    new Gauge({
      name: 'l4lb_source_state',
      help: 'State of each source: 1 for its current state, 0 for the others.',
      labelNames: ['source', 'state'],
      registers,
      collect() {
        this.reset();
        for (const s of readings.sources()) for (const st of SOURCE_STATES) this.set({ source: s.id, state: st }, s.state === st ? 1 : 0);
      },
    });
    new Gauge({
      name: 'l4lb_source_last_event_timestamp_seconds',
      help: 'Unix time of the last event or snapshot each source received.',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of readings.sources()) if (s.lastEventAt) this.set({ source: s.id }, s.lastEventAt.getTime() / 1000);
      },
    });
    new Gauge({
      name: 'l4lb_source_tasks',
      help: 'Tasks each source currently reports.',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of readings.sources()) this.set({ source: s.id }, s.tasks);
      },
    });
    // Mirrors of counters kept elsewhere: reset and re-filled at scrape time (still monotonic).
    new Counter({
      name: 'l4lb_source_reconnects_total',
      help: 'Reconnects of each source since start.',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const s of readings.sources()) this.inc({ source: s.id }, s.reconnects);
      },
    });
    if (readings.dnsQueries) {
      const dns = readings.dnsQueries.bind(readings);
      new Counter({
        name: 'l4lb_dns_queries_total',
        help: 'DNS queries answered, by question type and response code.',
        labelNames: ['type', 'rcode'],
        registers,
        collect() {
          this.reset();
          for (const [k, n] of dns() ?? []) {
            const [type, rcode] = k.split('|');
            this.inc({ type: type ?? '', rcode: rcode ?? '' }, n);
          }
        },
      });
    }
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** One reconcile pass. */
  pass(r: PassResult): void {
    this.passDuration.observe({ trigger: r.trigger }, r.durationMs / 1000);
    this.passes.inc({ trigger: r.trigger, result: r.errors.length > 0 ? 'error' : 'ok' });
    for (const e of r.errors) this.reconcileErrors.inc({ code: e.code });
    this.vips.set(r.vips);
    this.backends.set(r.backends);
    this.draining.set(r.draining);
  }

  /** The results of one IPVS batch. */
  ipvsResults(results: readonly OpResult[]): void {
    const counts = new Map<string, number>();
    for (const r of results) {
      const key = `${r.op.kind}|${r.error ? 'error' : 'ok'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const errno = (r.error as { errnoName?: string } | undefined)?.errnoName;
      if (errno) this.netlinkError(errno);
    }
    for (const [key, n] of counts) {
      const [kind, result] = key.split('|') as [IpvsOpKind, string];
      this.ipvsOps.inc({ kind, result }, n);
    }
  }

  /** A netlink request the kernel refused (or a netlink syscall that failed), by errno name. */
  netlinkError(errno: string): void {
    this.netlinkErrors.inc({ errno });
  }

  eventToKernelSeconds(s: number): void {
    this.eventToKernel.observe(s);
  }

  repairs(n: number): void {
    if (n > 0) this.driftRepairs.inc(n);
  }

  /** The text exposition format. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
