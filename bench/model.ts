// `make bench` rows for the input half: a Mesos master emulator streams a
// scripted cluster over loopback to the real Mesos source, whose sink feeds
// the model's VipTable. Measured: the SUBSCRIBED snapshot, the ingest of
// 10,000 TASK_UPDATED events (target >= 20,000 updates/s, i.e. <= 50 us per
// update), and the cost of the same updates with 100 vs 10,000 VIPs in the
// table (target within 2x: updates cost O(change), not O(table)).
//
//   node dist/bench/model.js        (prints the rows as JSON; bench/run.ts prints the table)

import { performance } from 'node:perf_hooks';
import { silentLogger } from '../controller/log.js';
import { VipTable, type Task, type TaskRef } from '../controller/model/index.js';
import { encodeRecord } from '../controller/sources/recordio.js';
import { MesosSource, staticResolver, type SourceSink, type SourceStatus } from '../controller/sources/index.js';
import { MesosMasterEmulator } from '../test/emulators/mesos-master.js';

export interface ModelRow {
  what: string;
  l4lb: number;
  baselineName: string;
  baseline: number;
  target?: number;
}

const progress = (s: string): void => void process.stderr.write(`bench model: ${s}\n`);
const fmt = (n: number): string => Math.round(n).toLocaleString('en');

/** A sink feeding a VipTable that can wait for a number of upserts. */
class TableSink implements SourceSink {
  readonly table = new VipTable();
  upserts = 0;
  state: SourceStatus['state'] = 'connecting';
  private waiter: { target: number; resolve: () => void } | undefined;
  private syncWaiter: (() => void) | undefined;

  replace(source: string, tasks: readonly Task[]): void {
    this.table.replaceSource(source, tasks);
  }

  upsert(task: Task): void {
    this.table.upsertTask(task);
    this.upserts++;
    if (this.waiter !== undefined && this.upserts >= this.waiter.target) {
      this.waiter.resolve();
      this.waiter = undefined;
    }
  }

  remove(ref: TaskRef): void {
    this.table.removeTask(ref);
  }

  status(s: SourceStatus): void {
    this.state = s.state;
    if (s.state === 'synced') this.syncWaiter?.();
  }

  synced(): Promise<void> {
    return this.state === 'synced' ? Promise.resolve() : new Promise((r) => (this.syncWaiter = r));
  }

  /** Resolves when `n` more upserts have arrived. */
  more(n: number): Promise<void> {
    const target = this.upserts + n;
    return new Promise((resolve) => (this.waiter = { target, resolve }));
  }
}

interface Cluster {
  master: MesosMasterEmulator;
  source: MesosSource;
  sink: TableSink;
  tasks: number;
  /** Time from start() to the first sync (SUBSCRIBED decoded, parsed, in the table). */
  syncMs: number;
  /** JSON.parse of the same SUBSCRIBED record alone. */
  parseMs: number;
}

// `vips` named VIPs with two running tasks each, over 10 agents; every task
// has a health check so a status's `healthy` moves its weight.
async function cluster(vips: number): Promise<Cluster> {
  const master = await MesosMasterEmulator.start({ heartbeatIntervalSeconds: 15 });
  for (let a = 0; a < 10; a++) master.addAgent({ id: `S${a}`, hostname: `10.1.0.${a + 1}` });
  master.addFramework({ id: 'F0', name: 'marathon' });
  for (let v = 0; v < vips; v++) {
    for (let k = 0; k < 2; k++) {
      const n = v * 2 + k;
      master.addTask({
        id: `app${v}.${k}`, frameworkId: 'F0', agentId: `S${n % 10}`, name: `app${v}`,
        ips: [`9.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`], healthCheck: true, healthy: true,
        ports: [{ number: 8080, name: 'http', vips: [`/app${v}:80`] }],
      });
    }
  }
  const subscribed = JSON.stringify(master.cluster.subscribed(15));
  const p0 = performance.now();
  JSON.parse(subscribed);
  const parseMs = performance.now() - p0;
  const sink = new TableSink();
  const source = new MesosSource({ masters: [master.url], resolver: staticResolver(), missedHeartbeats: 1000 }, silentLogger());
  const t0 = performance.now();
  source.start(sink);
  await sink.synced();
  const syncMs = performance.now() - t0;
  return { master, source, sink, tasks: vips * 2, syncMs, parseMs };
}

/** Encodes one TASK_UPDATED per task id (health flipped), as one buffer. */
function updates(c: Cluster, ids: readonly string[], healthy: boolean): Buffer {
  return Buffer.concat(ids.map((id) =>
    encodeRecord(JSON.stringify(c.master.cluster.updateTask('F0', id, { state: 'TASK_RUNNING', healthy })))));
}

/** Streams the buffer and waits until the sink has applied `count` upserts; ms. */
async function stream(c: Cluster, bytes: Buffer, count: number): Promise<number> {
  const done = c.sink.more(count);
  const t0 = performance.now();
  c.master.sendRaw(bytes);
  await done;
  return performance.now() - t0;
}

async function stop(c: Cluster): Promise<void> {
  await c.source.stop();
  await c.master.stop();
}

const ids = (vips: number, first = vips): string[] =>
  Array.from({ length: first }, (_, v) => [`app${v}.0`, `app${v}.1`]).flat();

export async function modelSuite(): Promise<ModelRow[]> {
  const rows: ModelRow[] = [];

  progress('a cluster of 10,000 tasks / 5,000 VIPs ...');
  const big = await cluster(5_000);
  progress(`SUBSCRIBED synced in ${big.syncMs.toFixed(0)} ms (JSON.parse alone ${big.parseMs.toFixed(0)} ms)`);
  rows.push({ what: 'mesos SUBSCRIBED 10,000 tasks / 5,000 VIPs: decode + parse + table', l4lb: big.syncMs, baselineName: 'JSON.parse', baseline: big.parseMs });
  const all = ids(5_000);
  await stream(big, updates(big, all.slice(0, 1000), false), 1000); // warm-up
  const bytes = updates(big, all, true);
  progress(`streaming 10,000 TASK_UPDATED (${(bytes.length / 1e6).toFixed(1)} MB) ...`);
  const ms = await stream(big, bytes, all.length);
  const rate = (all.length / ms) * 1000;
  progress(`ingest: ${fmt(rate)} updates/s (${((ms * 1000) / all.length).toFixed(1)} us per update)`);
  rows.push({
    what: `mesos ingest 10,000 TASK_UPDATED over loopback: ${fmt(rate)} updates/s`,
    l4lb: ms, baselineName: 'budget 20k/s', baseline: all.length * 0.05, target: 1,
  });
  await stop(big);

  // The same 2,000 updates (200 tasks of 100 VIPs, 10 each) against a table of
  // 100 VIPs and one of 10,000: O(change) means the same cost.
  const perUpdate = async (vips: number): Promise<number> => {
    progress(`${fmt(vips)} VIPs: building ...`);
    const c = await cluster(vips);
    const touched = ids(vips, 100);
    const rounds: number[] = [];
    for (let r = 0; r < 6; r++) {
      const buf = Buffer.concat(Array.from({ length: 10 }, (_, i) => updates(c, touched, (r + i) % 2 === 0)));
      const t = await stream(c, buf, touched.length * 10);
      if (r > 0) rounds.push(t / (touched.length * 10)); // round 0 warms up
    }
    await stop(c);
    rounds.sort((a, b) => a - b);
    const median = rounds[Math.floor(rounds.length / 2)] as number;
    progress(`${fmt(vips)} VIPs: ${(median * 1000).toFixed(1)} us per update`);
    return median;
  };
  const small = await perUpdate(100);
  const large = await perUpdate(10_000);
  rows.push({
    what: 'one TASK_UPDATED at 10,000 VIPs vs 100 VIPs (x1000 updates)',
    l4lb: large * 1000, baselineName: 'at 100 VIPs', baseline: small * 1000, target: 2,
  });
  return rows;
}

// Run alone: `node dist/bench/model.js` prints the rows.
if (import.meta.url === `file://${process.argv[1]}`) {
  modelSuite().then((rows) => process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`)).catch((e: Error) => {
    process.stderr.write(`bench model: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
