import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Hairpin,
  hairpinRuleSpec,
  ip6tablesFor,
  iptablesArgv,
  iptablesError,
  parseOwnedRules,
  planHairpin,
  splitRuleLine,
  type IptablesResult,
} from './hairpin.js';
import { DataplaneError } from './errors.js';

const SPEC = hairpinRuleSpec();
const LINE = '-A POSTROUTING -m ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "l4lb hairpin" -j MASQUERADE';

test('the rule is dcos-net\'s form with our comment; argv per operation', () => {
  assert.deepEqual(SPEC, ['-m', 'ipvs', '--vdir', 'ORIGINAL', '--vmethod', 'MASQ', '-m', 'comment', '--comment', 'l4lb hairpin', '-j', 'MASQUERADE']);
  assert.deepEqual(iptablesArgv('list'), ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
  assert.deepEqual(iptablesArgv('check', SPEC), ['-w', '5', '-t', 'nat', '-C', 'POSTROUTING', ...SPEC]);
  assert.deepEqual(iptablesArgv('insert', SPEC), ['-w', '5', '-t', 'nat', '-I', 'POSTROUTING', '1', ...SPEC]);
  assert.deepEqual(iptablesArgv('delete', SPEC), ['-w', '5', '-t', 'nat', '-D', 'POSTROUTING', ...SPEC]);
});

test('splitRuleLine follows iptables-save quoting', () => {
  assert.deepEqual(splitRuleLine(LINE).slice(2), SPEC);
  assert.deepEqual(splitRuleLine('-A X -m comment --comment "a \\"q\\" b\\\\" -j RETURN'), ['-A', 'X', '-m', 'comment', '--comment', 'a "q" b\\', '-j', 'RETURN']);
  assert.deepEqual(splitRuleLine('-A X  -m comment --comment ""  -j RETURN'), ['-A', 'X', '-m', 'comment', '--comment', '', '-j', 'RETURN']);
  assert.deepEqual(splitRuleLine('-A X -m comment --comment unquoted -j RETURN'), ['-A', 'X', '-m', 'comment', '--comment', 'unquoted', '-j', 'RETURN']);
  assert.throws(() => splitRuleLine('-A X --comment "open'), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_IPTABLES');
});

test('parseOwnedRules picks our comment only, in chain order, ignoring other chains and lookalikes', () => {
  const listing = [
    '-P POSTROUTING ACCEPT',
    '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
    LINE,
    '-A POSTROUTING -m comment --comment "l4lb hairpin v0" -j MASQUERADE',
    '-A POSTROUTING -m ipvs --vaddr 198.51.100.10/32 -m comment --comment "l4lb hairpin" -j MASQUERADE',
    '-A OTHER -m comment --comment "l4lb hairpin" -j MASQUERADE',
    '',
  ].join('\n');
  const owned = parseOwnedRules(listing);
  assert.equal(owned.length, 2);
  assert.deepEqual(owned[0], SPEC);
  assert.deepEqual(owned[1]!.slice(0, 4), ['-m', 'ipvs', '--vaddr', '198.51.100.10/32']);
  assert.deepEqual(parseOwnedRules('-P POSTROUTING ACCEPT\n'), []);
});

test('planHairpin: absent -> insert; present once -> nothing; duplicates and stale versions deleted', () => {
  const stale = ['-m', 'ipvs', '--vaddr', '198.51.100.10/32', '-m', 'comment', '--comment', 'l4lb hairpin', '-j', 'MASQUERADE'];
  assert.deepEqual(planHairpin([], SPEC, false), [{ op: 'insert', spec: SPEC }]);
  assert.deepEqual(planHairpin([SPEC], SPEC, true), []);
  assert.deepEqual(planHairpin([SPEC, SPEC, SPEC], SPEC, true), [{ op: 'delete', spec: SPEC }, { op: 'delete', spec: SPEC }]);
  assert.deepEqual(planHairpin([stale, SPEC], SPEC, true), [{ op: 'delete', spec: stale }]);
  // Absent but a stale version is there: add first (no window without SNAT), then delete it.
  assert.deepEqual(planHairpin([stale], SPEC, false), [{ op: 'insert', spec: SPEC }, { op: 'delete', spec: stale }]);
  // -C says present but the listing prints it differently (another iptables build): one owned rule is it.
  const printedOtherwise = ['-m', 'ipvs', '--vdir', 'ORIGINAL', '--vmethod', 'MASQ', '-m', 'comment', '--comment', 'l4lb hairpin', '-j', 'MASQUERADE', '--random'];
  assert.deepEqual(planHairpin([printedOtherwise], SPEC, true), []);
  assert.deepEqual(planHairpin([printedOtherwise, printedOtherwise], SPEC, true), [
    { op: 'delete', spec: printedOtherwise },
    { op: 'delete', spec: printedOtherwise },
    { op: 'insert', spec: SPEC },
  ]);
});

test('ip6tablesFor derives the sibling binary', () => {
  assert.equal(ip6tablesFor('iptables'), 'ip6tables');
  assert.equal(ip6tablesFor('iptables-legacy'), 'ip6tables-legacy');
  assert.equal(ip6tablesFor('iptables-nft'), 'ip6tables-nft');
  assert.equal(ip6tablesFor('/usr/sbin/iptables-legacy'), '/usr/sbin/ip6tables-legacy');
  assert.equal(ip6tablesFor('/opt/bin/xtables-wrapper'), undefined);
});

test('iptablesError classifies missing binary, module, permission, lock, and other failures', () => {
  const r = (stderr: string, code = 1): IptablesResult => ({ code, stdout: '', stderr });
  const args = iptablesArgv('check', SPEC);
  const enoent = Object.assign(new Error('spawn iptables-nope ENOENT'), { code: 'ENOENT' });
  const missing = iptablesError('iptables-nope', args, enoent);
  assert.equal(missing.code, 'DP_IPTABLES_MISSING');
  assert.match(missing.message, /^iptables-nope not found: install iptables or set dataplane\.iptables/);
  const killed = iptablesError('iptables', args, Object.assign(new Error('killed'), { killed: true }));
  assert.equal(killed.code, 'DP_IPTABLES_TIMEOUT');
  for (const msg of [
    "iptables v1.8.9 (legacy): Couldn't load match `ipvs':No such file or directory",
    'iptables: No chain/target/match by that name.',
    "iptables v1.8.9 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)",
    'Warning: Extension ipvs revision 0 not supported, missing kernel module?',
  ]) {
    const e = iptablesError('iptables', args, r(msg));
    assert.equal(e.code, 'DP_IPTABLES_MODULE', msg);
    assert.match(e.message, /xt_ipvs xt_comment xt_MASQUERADE iptable_nat/);
  }
  assert.match(iptablesError('ip6tables', args, r('x: Table does not exist')).message, /ip6table_nat/);
  const perm = iptablesError('iptables', args, r('iptables v1.8.9 (legacy): can\'t initialize iptables table `nat\': Permission denied (you must be root)', 4));
  assert.equal(perm.code, 'DP_IPTABLES_PERMISSION');
  assert.match(perm.message, /^`iptables -w 5 -t nat -C POSTROUTING -m ipvs .* -j MASQUERADE` exited 4: .*CAP_NET_ADMIN/);
  assert.equal(iptablesError('iptables', args, r('Another app is currently holding the xtables lock. Stopped waiting after 5s.', 4)).code, 'DP_IPTABLES_TIMEOUT');
  assert.equal(iptablesError('iptables', args, r('something else', 2)).code, 'DP_IPTABLES');
});

/** An in-memory nat POSTROUTING that answers like iptables-legacy. */
function fakeIptables(initial: string[][] = []) {
  const chains = new Map<string, string[][]>([['iptables', [...initial]], ['ip6tables', []]]);
  const calls: string[] = [];
  const quote = (w: string) => (/\s/.test(w) ? `"${w}"` : w);
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((w, i) => w === b[i]);
  const run = async (bin: string, args: readonly string[]): Promise<IptablesResult> => {
    calls.push(`${bin} ${args.join(' ')}`);
    const rules = chains.get(bin);
    if (!rules) throw Object.assign(new Error(`spawn ${bin} ENOENT`), { code: 'ENOENT' });
    const [w, , t, table, op, chain, ...rest] = args;
    assert.deepEqual([w, t, table, chain], ['-w', '-t', 'nat', 'POSTROUTING']);
    const bad: IptablesResult = { code: 1, stdout: '', stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).\n' };
    switch (op) {
      case '-S':
        return { code: 0, stdout: ['-P POSTROUTING ACCEPT', ...rules.map((r) => `-A POSTROUTING ${r.map(quote).join(' ')}`)].join('\n') + '\n', stderr: '' };
      case '-C':
        return rules.some((r) => same(r, rest)) ? { code: 0, stdout: '', stderr: '' } : bad;
      case '-I':
        rules.splice(Number(rest[0]) - 1, 0, rest.slice(1));
        return { code: 0, stdout: '', stderr: '' };
      case '-D': {
        const i = rules.findIndex((r) => same(r, rest));
        if (i < 0) return bad;
        rules.splice(i, 1);
        return { code: 0, stdout: '', stderr: '' };
      }
    }
    throw new Error(`unexpected ${args.join(' ')}`);
  };
  return { chains, calls, run };
}

test('Hairpin.ensure adds once, then is a no-op; duplicates collapse to one; remove deletes all owned', async () => {
  const other = ['-s', '172.17.0.0/16', '-j', 'MASQUERADE'];
  const f = fakeIptables([other]);
  const h = new Hairpin({ run: f.run });
  const first = await h.ensure();
  assert.deepEqual(first.map((x) => [x.family, x.wasPresent, x.ownedBefore, x.actions.length]), [['ipv4', false, 0, 1]]);
  assert.deepEqual(f.chains.get('iptables'), [SPEC, other], 'inserted first, the foreign rule kept');
  f.calls.length = 0;
  const again = await h.ensure();
  assert.deepEqual(again[0]!.actions, []);
  assert.deepEqual(f.calls, ['iptables -w 5 -t nat -S POSTROUTING', `iptables -w 5 -t nat -C POSTROUTING ${SPEC.join(' ')}`], 'a check is one -S and one -C, no write');
  f.chains.get('iptables')!.push(SPEC, SPEC);
  const dedup = await h.ensure();
  assert.equal(dedup[0]!.actions.length, 2);
  // -D removes the first match each time: one copy is left (which one does not matter).
  assert.deepEqual(f.chains.get('iptables'), [other, SPEC]);
  const gone = await h.remove();
  assert.equal(gone[0]!.actions.length, 1);
  assert.deepEqual(f.chains.get('iptables'), [other]);
});

test('overlapping ensure() calls (start racing a periodic check) still leave exactly one rule', async () => {
  const f = fakeIptables();
  const slow = async (bin: string, args: readonly string[]) => {
    await new Promise((r) => setTimeout(r, 1));
    return f.run(bin, args);
  };
  const h = new Hairpin({ run: slow });
  await Promise.all([h.ensure(), h.ensure(), h.ensure()]);
  assert.deepEqual(f.chains.get('iptables'), [SPEC]);
});

test('Hairpin with ipv6 keeps the rule in both families; a missing binary is DP_IPTABLES_MISSING', async () => {
  const f = fakeIptables();
  const h = new Hairpin({ run: f.run, ipv6: true });
  assert.deepEqual(h.families, [{ family: 'ipv4', binary: 'iptables' }, { family: 'ipv6', binary: 'ip6tables' }]);
  await h.ensure();
  assert.deepEqual(f.chains.get('ip6tables'), [SPEC]);
  assert.equal(h.command, 'iptables -t nat -I POSTROUTING 1 -m ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "l4lb hairpin" -j MASQUERADE');
  const nope = new Hairpin({ run: f.run, iptables: 'iptables-nope' });
  await assert.rejects(nope.ensure(), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_IPTABLES_MISSING' && /iptables-nope not found/.test(e.message));
  assert.throws(() => new Hairpin({ iptables: '/opt/xt', ipv6: true }), (e: unknown) => e instanceof DataplaneError && /set ip6tables/.test(e.message));
});

test('iptables-legacy says "No chain/target/match" for an absent rule on -C: absent, then a failing insert names the modules', async () => {
  const legacyAbsent: IptablesResult = { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' };
  const calls: string[] = [];
  const h = new Hairpin({
    run: async (_b, args) => {
      calls.push(args[4]!);
      return args.includes('-S') ? { code: 0, stdout: '-P POSTROUTING ACCEPT\n', stderr: '' } : legacyAbsent;
    },
  });
  await assert.rejects(h.ensure(), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_IPTABLES_MODULE' && /-I POSTROUTING 1/.test(e.message));
  assert.deepEqual(calls, ['-S', '-C', '-I']);
});

test('Hairpin surfaces a failing -C (module missing) instead of treating it as absent', async () => {
  const h = new Hairpin({
    run: async (_b, args) =>
      args.includes('-S') ? { code: 0, stdout: '-P POSTROUTING ACCEPT\n', stderr: '' } : { code: 2, stdout: '', stderr: "iptables v1.8.9 (legacy): Couldn't load match `ipvs':No such file or directory\n" },
  });
  await assert.rejects(h.ensure(), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_IPTABLES_MODULE');
});

test('the default runner runs a real binary with a deadline and maps a missing binary', async () => {
  const h = new Hairpin({ iptables: 'l4lb-no-such-iptables-binary' });
  await assert.rejects(h.ensure(), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_IPTABLES_MISSING');
});
