// The hairpin SNAT rule: one owned rule per family in the nat table,
//
//   iptables -t nat -I POSTROUTING 1 -m ipvs --vdir ORIGINAL --vmethod MASQ \
//            -m comment --comment "l4lb hairpin" -j MASQUERADE
//   (ip6tables the same, when IPv6 VIPs are enabled)
//
// Why it is needed: a backend that connects to its own VIP and is scheduled
// to itself receives a packet whose source is its own address; the kernel
// drops it as a martian. Masquerading IPVS traffic to the address of the
// node's outgoing link (the backend's gateway) makes the reply come back
// through IPVS. It needs net.ipv4.vs.conntrack=1 (sysctl.ts): without
// conntrack entries NAT never sees IPVS connections.
//
// Why dcos-net's broad form and not a narrower rule:
//  - Narrower matches exist: `--vaddr VIP --vport PORT` per VIP (the
//    real-kernel reference), or kube-proxy's hash:ip,port,ip ipset matching
//    only src == dst (KUBE-LOOP-BACK). Both change iptables on every VIP or
//    backend change: iptables writes per change are the scaling cost IPVS is
//    there to avoid (anchors §5), and a rule that must follow the VIP table
//    can lag it, which is exactly item 9 (SNAT written last broke a new
//    node, k8s#133773). One static rule is written once, before any VIP
//    address exists, and never changes.
//  - The same rule also covers the other cases where replies would bypass
//    IPVS: a client container on a bridge with a non-routable address
//    reaching a backend on another node, and a client and backend on the
//    same bridge (replies would go straight over the bridge).
//  - Cost: backends see the node's address, not the client's, for IPVS
//    masquerade traffic. l4lb VIPs are reached by clients on the same node
//    (every node carries every VIP), so that address is the client's node.
//  - Only IPVS connections in masquerade mode, original direction, are
//    matched: DR/TUN services and all non-IPVS traffic are untouched.
// Why `-I POSTROUTING 1` rather than `-A`: an earlier ACCEPT/RETURN in
// POSTROUTING (firewall managers, other proxies) would otherwise silently
// skip it. The position is chosen only when adding; a rule found elsewhere
// in the chain is accepted as it is (no churn).
//
// Ownership: a rule in nat POSTROUTING carrying the comment `l4lb hairpin`
// is l4lb's. Checked with `-C` (the kernel's own comparison) plus one `-S`
// listing: a missing rule is added, duplicates and stale versions are
// deleted, so repeated start()/check() never stack copies.

import { execFile } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { DataplaneError, type DataplaneErrorCode } from './errors.js';
import type { Logger } from '../log.js';

export const HAIRPIN_COMMENT = 'l4lb hairpin';
const TABLE = 'nat';
const CHAIN = 'POSTROUTING';
/** Seconds iptables waits for the xtables lock (`-w`). */
const LOCK_WAIT_S = 5;

/** The rule's matches and target (what follows `-A POSTROUTING`). */
export function hairpinRuleSpec(comment = HAIRPIN_COMMENT): string[] {
  return ['-m', 'ipvs', '--vdir', 'ORIGINAL', '--vmethod', 'MASQ', '-m', 'comment', '--comment', comment, '-j', 'MASQUERADE'];
}

export type IptablesOp = 'list' | 'check' | 'insert' | 'delete';

/** argv (without the binary) for one operation on nat POSTROUTING. */
export function iptablesArgv(op: IptablesOp, spec: readonly string[] = []): string[] {
  const head = ['-w', String(LOCK_WAIT_S), '-t', TABLE];
  switch (op) {
    case 'list':
      return [...head, '-S', CHAIN];
    case 'check':
      return [...head, '-C', CHAIN, ...spec];
    case 'insert':
      return [...head, '-I', CHAIN, '1', ...spec];
    case 'delete':
      return [...head, '-D', CHAIN, ...spec];
  }
}

/**
 * Splits one line of `iptables -S` into words the way iptables-save quotes
 * them: double quotes group, backslash escapes `"` and `\` inside them.
 */
export function splitRuleLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < line.length && (line[i + 1] === '"' || line[i + 1] === '\\')) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quoted) throw new DataplaneError('DP_IPTABLES', `unterminated quote in iptables rule: ${line}`, { line });
  if (inWord) out.push(cur);
  return out;
}

/**
 * The rules in `iptables -t nat -S POSTROUTING` output that carry our
 * comment, as specs (the words after `-A POSTROUTING`), in chain order.
 */
export function parseOwnedRules(listing: string, comment = HAIRPIN_COMMENT): string[][] {
  const out: string[][] = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith(`-A ${CHAIN} `)) continue;
    const words = splitRuleLine(line).slice(2);
    for (let i = 0; i + 1 < words.length; i++) {
      if (words[i] === '--comment' && words[i + 1] === comment) {
        out.push(words);
        break;
      }
    }
  }
  return out;
}

export interface HairpinAction {
  op: 'insert' | 'delete';
  spec: string[];
}

function sameWords(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((w, i) => w === b[i]);
}

/**
 * What to do so that exactly one owned rule, equal to `desired`, remains.
 * Pure. `owned`: our rules as listed; `present`: `-C desired` succeeded.
 *  - present, listed exactly once or more: delete extra copies and stale versions;
 *  - present but no listed rule is textually equal (a listing format of
 *    another iptables build): one owned rule is it, keep it; several:
 *    delete them all and add one;
 *  - absent: add first (no window without SNAT), then delete stale versions
 *    (they differ from desired, so deleting by their own spec cannot hit it).
 */
export function planHairpin(owned: readonly (readonly string[])[], desired: readonly string[], present: boolean): HairpinAction[] {
  const stale = owned.filter((o) => !sameWords(o, desired));
  const equal = owned.length - stale.length;
  const del = (spec: readonly string[]): HairpinAction => ({ op: 'delete', spec: [...spec] });
  if (present) {
    if (equal >= 1) return [...stale.map(del), ...Array.from({ length: equal - 1 }, () => del(desired))];
    if (owned.length <= 1) return [];
    return [...owned.map(del), { op: 'insert', spec: [...desired] }];
  }
  return [{ op: 'insert', spec: [...desired] }, ...stale.map(del)];
}

export interface IptablesResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one iptables command; rejects only when it could not run (spawn error, timeout). */
export type IptablesRunner = (binary: string, args: readonly string[], timeoutMs: number) => Promise<IptablesResult>;

/** Runs iptables via node:child_process with a deadline (SIGKILL when it expires). */
export const execIptables: IptablesRunner = (binary, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(binary, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stdout, stderr });
      if (typeof err.code === 'number') return resolve({ code: err.code, stdout, stderr });
      reject(Object.assign(err, { stderr }));
    });
  });

/** `iptables-legacy` -> `ip6tables-legacy`, `/usr/sbin/iptables` -> `/usr/sbin/ip6tables`; undefined when the name is not iptables*. */
export function ip6tablesFor(binary: string): string | undefined {
  const base = basename(binary);
  if (!base.startsWith('iptables')) return undefined;
  const six = `ip6tables${base.slice('iptables'.length)}`;
  return binary.includes('/') ? join(dirname(binary), six) : six;
}

/**
 * How `-C`/`-D` say "no such rule": iptables-nft prints "Bad rule (does a
 * matching rule exist in that chain?)", iptables-legacy 1.8 prints "No
 * chain/target/match by that name." (libiptc's ENOENT). The legacy text is
 * also what a missing target module gives, so it is accepted only for
 * -C/-D; the insert that follows reports a missing module (DP_IPTABLES_MODULE).
 */
const NOT_FOUND = /Bad rule \(does a matching rule exist in that chain\?\)|No chain\/target\/match by that name/;

/** The error for a failed iptables command, by what it printed. */
export function iptablesError(binary: string, args: readonly string[], r: IptablesResult | Error): DataplaneError {
  const cmd = `${binary} ${args.join(' ')}`;
  if (r instanceof Error) {
    const code = (r as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return new DataplaneError('DP_IPTABLES_MISSING', `${binary} not found: install iptables or set dataplane.iptables (iptables, iptables-legacy, iptables-nft)`, { binary }, { cause: r });
    }
    if ((r as { killed?: boolean }).killed) {
      return new DataplaneError('DP_IPTABLES_TIMEOUT', `\`${cmd}\` did not finish in time and was killed`, { argv: [binary, ...args] }, { cause: r });
    }
    if (code === 'EACCES') {
      return new DataplaneError('DP_IPTABLES_PERMISSION', `${binary} cannot be executed: ${r.message}`, { binary }, { cause: r });
    }
    return new DataplaneError('DP_IPTABLES', `\`${cmd}\`: ${r.message}`, { argv: [binary, ...args] }, { cause: r });
  }
  const stderr = r.stderr.trim();
  let code: DataplaneErrorCode = 'DP_IPTABLES';
  let hint = '';
  if (/Permission denied|you must be root|Operation not permitted/i.test(stderr)) {
    code = 'DP_IPTABLES_PERMISSION';
    hint = ' (l4lb needs root or CAP_NET_ADMIN for iptables)';
  } else if (/Couldn't load (match|target)|Extension \S+ revision \d+ not supported|missing kernel module|Table does not exist|do you need to insmod|No chain\/target\/match by that name|Protocol not supported|Could not fetch rule set generation id/i.test(stderr)) {
    code = 'DP_IPTABLES_MODULE';
    const v6 = basename(binary).startsWith('ip6');
    hint = ` (kernel modules needed: xt_ipvs xt_comment xt_MASQUERADE ${v6 ? 'ip6table_nat' : 'iptable_nat'}; on a host without legacy/nft NAT for this family try another dataplane.iptables)`;
  } else if (/xtables lock/i.test(stderr)) {
    code = 'DP_IPTABLES_TIMEOUT';
    hint = ' (another program held the xtables lock)';
  }
  return new DataplaneError(code, `\`${cmd}\` exited ${r.code}: ${stderr || '(no output)'}${hint}`, { argv: [binary, ...args], code: r.code, stderr });
}

export interface HairpinOptions {
  /** iptables binary for IPv4; default `iptables` (also `iptables-legacy`, `iptables-nft`, or a path). */
  iptables?: string;
  /** ip6tables binary; default derived from `iptables` (`iptables-nft` -> `ip6tables-nft`). */
  ip6tables?: string;
  /** Also keep the IPv6 rule (ip6tables). Default false. */
  ipv6?: boolean;
  /** Owner comment; default `l4lb hairpin`. */
  comment?: string;
  /** Per-command deadline; default 15 s (the lock wait is 5 s). */
  timeoutMs?: number;
  /** Injected runner (tests). */
  run?: IptablesRunner;
  logger?: Logger;
}

/** The state of the rule in one family after ensure()/remove(). */
export interface HairpinFamilyResult {
  family: 'ipv4' | 'ipv6';
  binary: string;
  /** The desired rule was there before (`-C`). */
  wasPresent: boolean;
  /** Owned rules listed before. */
  ownedBefore: number;
  /** Commands run to fix it (argv without the binary), in order; empty when already right. */
  actions: string[][];
}

/** The owned hairpin rule(s): ensured, checked, removed. */
export class Hairpin {
  readonly families: readonly { family: 'ipv4' | 'ipv6'; binary: string }[];
  private readonly spec: string[];
  private readonly comment: string;
  private readonly run: IptablesRunner;
  private readonly timeoutMs: number;
  private readonly log: Logger | undefined;
  private tail: Promise<void> = Promise.resolve();

  constructor(opts: HairpinOptions = {}) {
    const v4 = opts.iptables ?? 'iptables';
    const fams: { family: 'ipv4' | 'ipv6'; binary: string }[] = [{ family: 'ipv4', binary: v4 }];
    if (opts.ipv6) {
      const v6 = opts.ip6tables ?? ip6tablesFor(v4);
      if (v6 === undefined) {
        throw new DataplaneError('DP_IPTABLES_MISSING', `cannot derive the ip6tables binary from ${JSON.stringify(v4)}: set ip6tables`, { binary: v4 });
      }
      fams.push({ family: 'ipv6', binary: v6 });
    }
    this.families = fams;
    this.comment = opts.comment ?? HAIRPIN_COMMENT;
    this.spec = hairpinRuleSpec(this.comment);
    this.run = opts.run ?? execIptables;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.log = opts.logger;
  }

  /** The full command that adds the rule, for docs and logs. */
  get command(): string {
    return `${this.families[0]!.binary} -t ${TABLE} -I ${CHAIN} 1 ${this.spec.map((w) => (/\s/.test(w) ? JSON.stringify(w) : w)).join(' ')}`;
  }

  /**
   * Makes exactly one owned rule exist per family: adds it when missing,
   * deletes duplicates and stale versions. Idempotent; the periodic check
   * calls it too. Throws DataplaneError (DP_IPTABLES_*) on the first failure.
   */
  ensure(): Promise<HairpinFamilyResult[]> {
    return this.serialized(() => this.ensureNow());
  }

  /** Deletes every owned rule (not called on stop: forwarding continues while l4lb is down). */
  remove(): Promise<HairpinFamilyResult[]> {
    return this.serialized(() => this.removeNow());
  }

  /** One list-check-fix at a time: two overlapping ensure() calls would both see "absent" and insert twice. */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async ensureNow(): Promise<HairpinFamilyResult[]> {
    const out: HairpinFamilyResult[] = [];
    for (const f of this.families) {
      const owned = parseOwnedRules((await this.exec(f.binary, iptablesArgv('list'))).stdout, this.comment);
      const present = await this.present(f.binary);
      const actions = planHairpin(owned, this.spec, present);
      const done: string[][] = [];
      for (const a of actions) {
        const args = iptablesArgv(a.op, a.spec);
        await this.exec(f.binary, args, a.op === 'delete');
        done.push(args);
        this.log?.debug(a.op === 'insert' ? 'added hairpin rule' : 'deleted hairpin rule', { component: 'dataplane', binary: f.binary, argv: args });
      }
      out.push({ family: f.family, binary: f.binary, wasPresent: present, ownedBefore: owned.length, actions: done });
    }
    return out;
  }

  private async removeNow(): Promise<HairpinFamilyResult[]> {
    const out: HairpinFamilyResult[] = [];
    for (const f of this.families) {
      const owned = parseOwnedRules((await this.exec(f.binary, iptablesArgv('list'))).stdout, this.comment);
      const present = await this.present(f.binary);
      const done: string[][] = [];
      for (const o of owned) {
        const args = iptablesArgv('delete', o);
        await this.exec(f.binary, args, true);
        done.push(args);
      }
      out.push({ family: f.family, binary: f.binary, wasPresent: present, ownedBefore: owned.length, actions: done });
    }
    return out;
  }

  private async present(binary: string): Promise<boolean> {
    const args = iptablesArgv('check', this.spec);
    const r = await this.exec(binary, args, true);
    return r.code === 0;
  }

  /** Runs one command; a "no such rule" answer is returned (code 1) when `absentOk`, every other failure throws. */
  private async exec(binary: string, args: readonly string[], absentOk = false): Promise<IptablesResult> {
    let r: IptablesResult;
    try {
      r = await this.run(binary, args, this.timeoutMs);
    } catch (e) {
      throw iptablesError(binary, args, e instanceof Error ? e : new Error(String(e)));
    }
    if (r.code === 0) return r;
    if (absentOk && r.code === 1 && NOT_FOUND.test(r.stderr)) return r;
    throw iptablesError(binary, args, r);
  }
}
