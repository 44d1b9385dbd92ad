// The demo's part inside the kernel (run by test/demo/demo.ts in a fresh
// network namespace): real HTTP backends in their own namespaces, a VIP on a
// dummy link, IPVS programmed by l4lb's netlink layer, and real traffic.
// Exits 0 only if every step did what it printed.

import { performance } from 'node:perf_hooks';
import { IpvsHandle, makeDestination, makeService, type IpvsOp } from '../../native/ipvs/index.js';
import { RtnlHandle } from '../../native/rtnl/index.js';
import { readIpvs, renderIpvsTable } from '../../controller/cli/ipvs.js';
import { Cleanup, createBackend, httpGet, startHttpServer, type Backend } from '../kernel/lib.js';

const VIP = '198.51.100.10';
const PORT = 80;
const say = (s: string) => process.stdout.write(`${s}\n`);

async function spread(n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { status, body } = await httpGet(`http://${VIP}:${PORT}/`);
    if (status !== 200) throw new Error(`request ${i + 1}: HTTP ${status}`);
    counts.set(body.trim(), (counts.get(body.trim()) ?? 0) + 1);
  }
  return counts;
}

function show(counts: Map<string, number>, backends: Backend[]): void {
  for (const b of backends) say(`    ${b.name} (${b.addr}:${PORT}): ${String(counts.get(b.name) ?? 0).padStart(3)} requests`);
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    say('step 1/5: three backends, each a real HTTP server in its own network namespace');
    const backends: Backend[] = [];
    for (let i = 0; i < 3; i++) {
      const b = await createBackend(i, cleanup);
      await startHttpServer(b, { port: PORT, body: b.name }, cleanup);
      backends.push(b);
      say(`    ${b.name}: http://${b.addr}:${PORT}/`);
    }

    say(`step 2/5: VIP ${VIP} on dummy link "minuteman" (rtnetlink, like dcos-net's)`);
    const rt = RtnlHandle.open();
    rt.linkAddDummy('minuteman');
    rt.addrAdd({ link: 'minuteman', address: VIP });
    rt.linkSetUp('minuteman');
    rt.close();

    say(`step 3/5: IPVS service TCP ${VIP}:${PORT} (wlc) with 3 masqueraded destinations, in one batched netlink write`);
    const ipvs = IpvsHandle.open();
    const service = makeService({ address: VIP, port: PORT, scheduler: 'wlc' });
    const ops: IpvsOp[] = [
      { kind: 'add-service', service },
      ...backends.map((b): IpvsOp => ({ kind: 'add-destination', service, destination: makeDestination({ address: b.addr, port: PORT }) })),
    ];
    const t0 = performance.now();
    const results = ipvs.apply(ops);
    const failed = results.filter((r) => r.error);
    if (failed.length) throw new Error(failed.map((r) => r.error!.message).join('; '));
    say(`    ${ops.length} operations applied in ${(performance.now() - t0).toFixed(1)} ms`);

    say(`step 4/5: 30 HTTP requests to http://${VIP}:${PORT}/, each a new connection`);
    const first = await spread(30);
    show(first, backends);
    for (const b of backends) {
      if ((first.get(b.name) ?? 0) !== 10) throw new Error(`expected 10 requests on ${b.name}, got ${first.get(b.name) ?? 0}`);
    }
    say('    ok: every backend answered 10 of 30 (wlc spreads equal weights evenly)');

    say(`step 5/5: drain ${backends[2]!.name} (weight 0: no new connections), 30 more requests`);
    ipvs.editDestination(service, makeDestination({ address: backends[2]!.addr, port: PORT, weight: 0 }));
    const second = await spread(30);
    show(second, backends);
    if ((second.get(backends[2]!.name) ?? 0) !== 0) throw new Error(`${backends[2]!.name} still got requests at weight 0`);
    say(`    ok: ${backends[2]!.name} got none; the other two took all 30`);

    say('\nl4lb ipvs list:');
    process.stdout.write(renderIpvsTable(readIpvs(ipvs)));
    ipvs.close();
  } finally {
    await cleanup.run();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`demo: FAILED: ${e.message}\n`);
  process.exitCode = 1;
});
