// A VIP's own IPVS scheduler: the names IPVS knows, the label that names one,
// and how the backends of a VIP settle on one when their tasks disagree.
// No imports: the config schema shares IPVS_SCHEDULERS with the model.

/** IPVS schedulers (`ipvsadm -s`): the only values `ipvs.scheduler` and the per-VIP label accept. */
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'] as const;

export type IpvsScheduler = (typeof IPVS_SCHEDULERS)[number];

/**
 * Mesos/Marathon label naming a VIP's scheduler: on a discovery port (Marathon
 * port definition or mapping) for that port's VIPs, on the task (Marathon app
 * `labels`) for all its VIPs. Deliberately not `VIP...`: dcos-net would read
 * any discovery-port label starting with `VIP`/`vip` as a VIP.
 */
export const SCHEDULER_LABEL = 'l4lb.scheduler';

export function isIpvsScheduler(name: string): name is IpvsScheduler {
  return (IPVS_SCHEDULERS as readonly string[]).includes(name);
}

export type SchedulerParse =
  | { ok: true; scheduler: IpvsScheduler }
  /** `value`: what to show in the rejection (the bad value, or every value given). */
  | { ok: false; code: 'VIP_BAD_SCHEDULER'; message: string; value: string };

/** A scheduler value as written by a user: exact IPVS name (as `ipvsadm -s` takes it). */
export function parseScheduler(value: string): SchedulerParse {
  if (isIpvsScheduler(value)) return { ok: true, scheduler: value };
  return {
    ok: false,
    code: 'VIP_BAD_SCHEDULER',
    value,
    message: `${JSON.stringify(value)} is not an IPVS scheduler (one of ${IPVS_SCHEDULERS.join(', ')}); the VIP uses the default scheduler`,
  };
}

/**
 * The `l4lb.scheduler` label among a label list: undefined when absent, the
 * scheduler when every occurrence names the same valid one, else an error.
 * Mesos label lists may repeat a key; two different values have no winner.
 */
export function schedulerFromLabels(labels: ReadonlyArray<{ key: string; value: string }>): SchedulerParse | undefined {
  let found: SchedulerParse | undefined;
  for (const l of labels) {
    if (l.key !== SCHEDULER_LABEL) continue;
    const parsed = parseScheduler(l.value);
    if (!parsed.ok) return parsed;
    if (found !== undefined && found.ok && found.scheduler !== parsed.scheduler) {
      return {
        ok: false,
        code: 'VIP_BAD_SCHEDULER',
        value: `${found.scheduler},${parsed.scheduler}`,
        message: `${SCHEDULER_LABEL} is given twice (${found.scheduler}, ${parsed.scheduler}); the VIP uses the default scheduler`,
      };
    }
    found = parsed;
  }
  return found;
}

/** How many backends of a VIP named each scheduler, most first (ties: by name). */
export interface SchedulerVote {
  scheduler: string;
  backends: number;
}

export interface Election {
  /** The winner; undefined when no backend named one (the global default applies). */
  scheduler?: string;
  /** Every scheduler named, with its backends; only when more than one was named (a disagreement). */
  votes?: SchedulerVote[];
}

const NO_ELECTION: Election = Object.freeze({});

/**
 * One vote per backend that names a scheduler (undefined: no vote). The most
 * votes win; a tie goes to the alphabetically first name. Counting makes the
 * result independent of the order of the votes.
 */
export function electScheduler(votes: Iterable<string | undefined>): Election {
  const counts = new Map<string, number>();
  for (const v of votes) if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
  if (counts.size === 0) return NO_ELECTION;
  const ranked = [...counts].map(([scheduler, backends]) => ({ scheduler, backends }))
    .sort((a, b) => b.backends - a.backends || (a.scheduler < b.scheduler ? -1 : a.scheduler > b.scheduler ? 1 : 0));
  const winner = (ranked[0] as SchedulerVote).scheduler;
  return ranked.length > 1 ? { scheduler: winner, votes: ranked } : { scheduler: winner };
}
