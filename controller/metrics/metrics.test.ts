// Metric names follow Prometheus conventions, and the recorder feeds them:
// passes, latency from change to kernel, drift repairs, IPVS results, errnos.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Metrics } from './index.js';
import { StatusRecorder, type DaemonView } from '../status/recorder.js';
import type { PassResult } from '../reconcile/index.js';
import type { SourceStatus } from '../sources/types.js';
import type { IpvsOp, OpResult } from '../../native/ipvs/index.js';

const sources: SourceStatus[] = [
  { id: 'marathon', kind: 'marathon', state: 'synced', endpoint: 'http://m:8080', since: new Date(0), lastEventAt: new Date(1_700_000_000_000), reconnects: 2, tasks: 3 },
];

function metrics(processMetrics = false) {
  return new Metrics(
    {
      sources: () => sources,
      dnsQueries: () => new Map([['A|NOERROR', 4], ['SRV|NXDOMAIN', 1]]),
      rejectedLabels: () => 5,
      ready: () => true,
    },
    { version: '9.9.9', processMetrics },
  );
}

function pass(over: Partial<PassResult> = {}): PassResult {
  return {
    trigger: 'change', full: false, startedAt: performance.now(), durationMs: 12, wallMs: 12, chunks: 1, maxChunkMs: 12, keys: 1,
    ops: { 'add-service': 0, 'edit-service': 0, 'delete-service': 0, 'add-destination': 0, 'edit-destination': 0, 'delete-destination': 0 },
    opsTotal: 0, failedOps: 0, vips: 2, backends: 5, draining: 1, foreign: 0, events: [], errors: [], failedVips: [], ...over,
  };
}

/** `name{labels} value` lines of the exposition, without comments. */
async function samples(m: Metrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await m.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

test('every l4lb metric is prefixed, snake_case, counters end in _total, durations in seconds; process metrics keep their standard names', async () => {
  const m = metrics(true);
  const text = await m.text();
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => ({ name: x[1]!, type: x[2]! }));
  const own = types.filter((t) => t.name.startsWith('l4lb_'));
  assert.ok(own.length >= 15, `only ${own.length} l4lb metrics`);
  for (const t of own) {
    assert.match(t.name, /^l4lb_[a-z0-9_]+$/, t.name);
    if (t.type === 'counter') assert.match(t.name, /_total$/, t.name);
    if (t.type !== 'counter') assert.doesNotMatch(t.name, /_total$/, t.name);
    assert.doesNotMatch(t.name, /_(ms|milliseconds)(_|$)/, t.name);
    if (t.type === 'histogram') assert.match(t.name, /_seconds$/, t.name);
  }
  for (const t of types.filter((x) => !x.name.startsWith('l4lb_'))) assert.match(t.name, /^(process|nodejs)_/, t.name);
  assert.ok(types.some((t) => t.name === 'process_cpu_seconds_total'));
  for (const want of [
    'l4lb_reconcile_pass_duration_seconds', 'l4lb_event_to_kernel_seconds', 'l4lb_ipvs_operations_total', 'l4lb_vips', 'l4lb_backends',
    'l4lb_backends_draining', 'l4lb_source_state', 'l4lb_source_last_event_timestamp_seconds', 'l4lb_drift_repairs_total', 'l4lb_netlink_errors_total',
    'l4lb_dns_queries_total', 'l4lb_reconcile_passes_total',
  ]) assert.ok(own.some((t) => t.name === want), want);
});

test('scrape-time readings: source state one-hot, last event time, reconnects, DNS by type and rcode', async () => {
  const s = await samples(metrics());
  assert.equal(s.get('l4lb_source_state{source="marathon",state="synced"}'), 1);
  assert.equal(s.get('l4lb_source_state{source="marathon",state="stale"}'), 0);
  assert.equal(s.get('l4lb_source_last_event_timestamp_seconds{source="marathon"}'), 1_700_000_000);
  assert.equal(s.get('l4lb_source_reconnects_total{source="marathon"}'), 2);
  assert.equal(s.get('l4lb_dns_queries_total{type="SRV",rcode="NXDOMAIN"}'), 1);
  assert.equal(s.get('l4lb_rejected_labels'), 5);
  assert.equal(s.get('l4lb_build_info{version="9.9.9"}'), 1);
});

test('IPVS results count by kind and result; kernel errors by errno', async () => {
  const m = metrics();
  const op = { kind: 'add-destination' } as IpvsOp;
  const err = Object.assign(new Error('x'), { code: 'ERR_NETLINK', errnoName: 'EEXIST' });
  m.ipvsResults([{ op }, { op }, { op, error: err }] as OpResult[]);
  const s = await samples(m);
  assert.equal(s.get('l4lb_ipvs_operations_total{kind="add-destination",result="ok"}'), 2);
  assert.equal(s.get('l4lb_ipvs_operations_total{kind="add-destination",result="error"}'), 1);
  assert.equal(s.get('l4lb_netlink_errors_total{errno="EEXIST"}'), 1);
});

function view(): DaemonView {
  return {
    version: '1', startedAt: new Date(), scheduler: 'wlc', vips: () => [], rejected: () => [], sources: () => [], synced: () => true,
    isForwarding: () => true, drains: () => [], kernel: () => undefined, serviceKey: () => { throw new Error('unused'); }, dns: () => undefined,
    resyncIntervalMs: 30_000,
  };
}

test('recorder: a pass counts by trigger and result; latency from the change mark to the end of the pass that applied it', async () => {
  const m = metrics();
  const r = new StatusRecorder(view(), m);
  r.changed(['tcp/198.51.100.1:80'], () => true); // before the reconciler: no latency to measure
  r.reconciling();
  const t0 = performance.now();
  r.changed(['tcp/198.51.100.1:80', 'tcp/198.51.100.2:80'], () => true);
  // The pass fails for .2: only .1 gets a latency sample; .2 waits for its retry.
  r.pass(pass({ startedAt: t0 + 5, durationMs: 20, failedVips: ['tcp/198.51.100.2:80'], errors: [{ vip: 'tcp/198.51.100.2:80', code: 'ERR_NETLINK', message: 'EINVAL' }] }));
  let s = await samples(m);
  assert.equal(s.get('l4lb_event_to_kernel_seconds_count'), 1);
  const sum = s.get('l4lb_event_to_kernel_seconds_sum') ?? 0;
  assert.ok(sum > 0.02 && sum <= 0.025, String(sum));
  assert.equal(s.get('l4lb_reconcile_passes_total{trigger="change",result="error"}'), 1);
  assert.equal(s.get('l4lb_reconcile_errors_total{code="ERR_NETLINK"}'), 1);
  assert.equal(s.get('l4lb_vips'), 2);
  assert.ok(r.ready(), 'a per-VIP failure does not hold readiness back');
  r.pass(pass({ trigger: 'retry', startedAt: t0 + 1000 }));
  s = await samples(m);
  assert.equal(s.get('l4lb_event_to_kernel_seconds_count'), 2);
  assert.equal(r.status().reconcile.passes, 2);
  assert.equal(r.status().reconcile.errors, 1);
  assert.equal(r.status().reconcile.recentErrors[0]!.vip, 'tcp/198.51.100.2:80');
});

test('recorder: not ready after a pass-wide failure; ready after the first pass that read the kernel', () => {
  const r = new StatusRecorder(view(), metrics());
  assert.equal(r.ready(), false);
  r.reconciling();
  r.pass(pass({ trigger: 'startup', full: true, errors: [{ code: 'ERR_RECONCILE_READ', message: 'EPERM' }] }));
  assert.equal(r.ready(), false);
  r.pass(pass({ trigger: 'startup', full: true }));
  assert.equal(r.ready(), true);
});

test('recorder: what a resync changes without a pending change is a drift repair; drain progress and requested changes are not', async () => {
  const m = metrics();
  const r = new StatusRecorder(view(), m);
  r.reconciling();
  const vip = 'tcp/198.51.100.1:80';
  const other = 'tcp/198.51.100.2:80';
  r.changed([other], () => true);
  r.pass(pass({
    trigger: 'resync', full: true, startedAt: performance.now() + 1,
    events: [
      { kind: 'service-added', vip, scheduler: 'wlc' },
      { kind: 'added', vip, destination: '203.0.113.2:80', weight: 1 },
      { kind: 'deleted', vip, destination: '203.0.113.3:80', reason: 'idle' },
      { kind: 'added', vip: other, destination: '203.0.113.4:80', weight: 1 },
    ],
  }));
  const s = await samples(m);
  assert.equal(s.get('l4lb_drift_repairs_total'), 2);
  assert.equal(r.status().reconcile.driftRepairs, 2);
  r.pass(pass({ trigger: 'change', events: [{ kind: 'added', vip, destination: '203.0.113.5:80', weight: 1 }] }));
  assert.equal(r.status().reconcile.driftRepairs, 2, 'a change pass never counts as a repair');
});
