// One IPVS benchmark case, run by bench/ipvs-guest.ts inside a real kernel in
// a FRESH network namespace (deleted destinations linger in a per-netns trash
// list that slows every later add: never reuse a namespace between cases).
// Prints one JSON line with the timings on stdout.
//
//   node dist/bench/ipvs-case.js <case> <services> <dests> <seed>
//   case: batched | single | ipvsadm-restore | dump

import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { IpvsHandle, encodeOp, type IpvsOp } from '../native/ipvs/index.js';
import { MessageWriter } from '../native/netlink/writer.js';
import { randomRuleSet, restoreText, type RuleSet } from '../test/support/ipvs-rules.js';

export interface CaseResult {
  case: string;
  services: number;
  dests: number;
  /** Wall time of the measured step in milliseconds. */
  ms: number;
  /** Extra measurements of the case (encode-only time, CLI dump...). */
  extra: Record<string, number>;
}

export function benchOps(set: RuleSet): IpvsOp[] {
  const ops: IpvsOp[] = [];
  for (const { service, destinations } of set.services) {
    ops.push({ kind: 'add-service', service });
    for (const destination of destinations) ops.push({ kind: 'add-destination', service, destination });
  }
  return ops;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark case broken: ${what}`);
}

function countDests(h: IpvsHandle): { services: number; dests: number } {
  const t = h.dump();
  return { services: t.length, dests: t.reduce((n, s) => n + s.destinations.length, 0) };
}

function main(): void {
  const [kind, nS, nD, seedS] = process.argv.slice(2);
  const services = Number(nS);
  const dests = Number(nD);
  // Three disjoint sets of the same size: the first is timed in a cold
  // process, the third after two runs have warmed the code up (a daemon's case).
  const all = randomRuleSet(Number(seedS ?? 1), { services: 3 * services, maxDestinations: dests, variety: 'plain', exact: true });
  const part = (i: number): RuleSet => ({ services: all.services.slice(i * services, (i + 1) * services) });
  const set = part(0);
  const ops = benchOps(set);
  const extra: Record<string, number> = {};
  let ms = 0;
  const h = IpvsHandle.open({ rcvBufBytes: 8 << 20, sndBufBytes: 4 << 20 });
  try {
    if (kind === 'batched') {
      // Encoding alone, to show it does not dominate (same writer reuse as apply()).
      const w = new MessageWriter(256 * 1024);
      const e0 = performance.now();
      for (let i = 0; i < ops.length; i++) {
        if (w.length > 128 * 1024) w.reset();
        encodeOp(w, h.familyId, i + 1, 0, ops[i]!);
      }
      extra.encodeMs = performance.now() - e0;
      const t0 = performance.now();
      const res = h.apply(ops);
      ms = performance.now() - t0;
      check(res.every((r) => !r.error), `apply failed: ${res.find((r) => r.error)?.error?.message}`);
      check(h.apply(benchOps(part(1))).every((r) => !r.error), 'second apply failed');
      const warmOps = benchOps(part(2));
      const t1 = performance.now();
      const warm = h.apply(warmOps);
      extra.warmMs = performance.now() - t1;
      check(warm.every((r) => !r.error), 'warm apply failed');
    } else if (kind === 'single') {
      // What kube-proxy, moby/ipvs and dcos-net do: one request, wait for its ACK, next.
      const t0 = performance.now();
      for (const op of ops) {
        if (op.kind === 'add-service') h.addService(op.service);
        else if (op.kind === 'add-destination') h.addDestination(op.service, op.destination);
      }
      ms = performance.now() - t0;
    } else if (kind === 'ipvsadm-restore') {
      const text = restoreText(set);
      const t0 = performance.now();
      const r = spawnSync('ipvsadm', ['-R'], { input: text, maxBuffer: 1 << 30 });
      ms = performance.now() - t0;
      check(r.status === 0, `ipvsadm -R exited ${r.status}: ${r.stderr}`);
    } else if (kind === 'dump') {
      check(h.apply(ops).every((r) => !r.error), 'setup apply failed');
      // Best of several runs (at least 5, and at least one second of runs).
      const best = (f: () => void, n = 5) => {
        let b = Infinity;
        const start = performance.now();
        for (let i = 0; i < n || (performance.now() - start < 1000 && i < 50); i++) {
          const t0 = performance.now();
          f();
          b = Math.min(b, performance.now() - t0);
        }
        return b;
      };
      ms = best(() => {
        const t = h.dump();
        check(t.length === services, `dump saw ${t.length} services`);
      });
      extra.ipvsadmSaveMs = best(() => {
        const r = spawnSync('ipvsadm', ['-S', '-n'], { maxBuffer: 1 << 30 });
        check(r.status === 0, `ipvsadm -S exited ${r.status}`);
      });
      extra.cliJsonMs = best(() => {
        const r = spawnSync(process.execPath, [new URL('../../bin/l4lb', import.meta.url).pathname, 'ipvs', 'list', '-o', 'json'], { maxBuffer: 1 << 30 });
        check(r.status === 0, `l4lb ipvs list exited ${r.status}: ${r.stderr}`);
      }, 1);
    } else {
      throw new Error(`unknown case ${kind}`);
    }
    if (kind !== 'dump') {
      const sets = kind === 'batched' ? 3 : 1;
      const got = countDests(h);
      check(got.services === sets * services && got.dests === sets * services * dests, `kernel holds ${got.services} services / ${got.dests} destinations`);
    }
  } finally {
    h.close();
  }
  const out: CaseResult = { case: kind!, services, dests, ms, extra };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
