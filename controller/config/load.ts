// Loads settings from defaults < config file < environment < flags, and
// validates every value against the schema. All problems are reported at
// once, each naming where the bad value came from.

import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { inetFamily } from '../../native/netlink/inet.js';
import { SETTINGS, envName, flagName, type Setting } from './schema.js';

export type Value = string | number | boolean | readonly string[];
export type Origin = 'default' | 'file' | 'env' | 'flag';

export interface Loaded {
  values: ReadonlyMap<string, Value | undefined>;
  origin: ReadonlyMap<string, Origin>;
  /** Path of the config file that was read, if any. */
  file?: string;
}

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadInput {
  /** Config file path (YAML or JSON); undefined = none. */
  file?: string;
  /** Usually process.env; only L4LB_* names that match a setting are read. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Flag values by setting key, as the CLI parsed them (strings, or booleans for switches). */
  flags?: Readonly<Record<string, string | boolean | undefined>>;
}

/** `30s`, `5m`, `1h30m`, `250ms`; a bare number is seconds (as `ipvsadm --set` takes them). */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    matched = re.lastIndex;
  }
  return matched === t.length && t.length > 0 ? Math.round(total) : undefined;
}

/** 300000 -> "5m", 1500 -> "1.5s": how durations are shown in docs and status. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Converts one raw value to the setting's type; returns a problem string on failure. */
export function convert(s: Setting, raw: unknown): { value: Value } | { problem: string } {
  const t = s.type;
  const text = typeof raw === 'string' ? raw : undefined;
  switch (t.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') return { problem: 'must be a non-empty string' };
      if (t.pattern && !t.pattern.test(raw)) return { problem: `must be ${t.patternDoc ?? `like ${t.pattern}`}` };
      return { value: raw };
    case 'enum':
      if (typeof raw !== 'string' || !t.values.includes(raw)) return { problem: `must be one of ${t.values.join(', ')}` };
      return { value: raw };
    case 'int': {
      const n = typeof raw === 'number' ? raw : text !== undefined && /^-?\d+$/.test(text.trim()) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < t.min || n > t.max) return { problem: `must be a whole number from ${t.min} to ${t.max}` };
      return { value: n };
    }
    case 'duration': {
      const ms = typeof raw === 'number' ? raw * 1000 : text !== undefined ? parseDuration(text) : undefined;
      if (ms === undefined || !Number.isFinite(ms)) return { problem: 'must be a duration such as 30s, 5m, 1h30m, 250ms (a bare number is seconds)' };
      if (ms < t.minMs || ms > t.maxMs) return { problem: `must be between ${formatDuration(t.minMs)} and ${formatDuration(t.maxMs)}` };
      return { value: ms };
    }
    case 'bool': {
      if (typeof raw === 'boolean') return { value: raw };
      const v = text?.trim().toLowerCase();
      if (v === 'true' || v === '1' || v === 'yes') return { value: true };
      if (v === 'false' || v === '0' || v === 'no') return { value: false };
      return { problem: 'must be true or false' };
    }
    case 'list': {
      const items = Array.isArray(raw) ? raw : text !== undefined ? text.split(',') : undefined;
      if (!items || items.some((x) => typeof x !== 'string')) return { problem: 'must be a list of strings (comma-separated in flags and environment)' };
      return { value: (items as string[]).map((x) => x.trim()).filter(Boolean) };
    }
    case 'ip': {
      const af = text !== undefined ? inetFamily(text) : 0;
      const fam = af === 2 ? 4 : af === 10 ? 6 : 0;
      if (!fam || (t.family && fam !== t.family)) return { problem: `must be an IPv${t.family ?? '4 or IPv6'} address` };
      return { value: text! };
    }
  }
}

/** Flattens a nested YAML object into dotted keys (`ipvs: {scheduler: rr}` -> `ipvs.scheduler`). */
function flatten(obj: unknown, prefix: string, out: Map<string, unknown>, problems: string[], file: string): void {
  if (obj === null || obj === undefined) return;
  if (typeof obj !== 'object' || Array.isArray(obj)) {
    problems.push(`${file}: ${prefix || 'the top level'} must be a mapping of keys`);
    return;
  }
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const isSetting = SETTINGS.some((s) => s.key === key);
    const isSection = SETTINGS.some((s) => s.key.startsWith(`${key}.`));
    if (isSetting) out.set(key, v);
    else if (isSection && v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out, problems, file);
    else problems.push(`${file}: unknown key "${key}"${suggest(key)}`);
  }
}

function suggest(key: string): string {
  let best: string | undefined;
  let bestD = 3;
  for (const s of SETTINGS) {
    const d = editDistance(key, s.key);
    if (d < bestD) {
      bestD = d;
      best = s.key;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length]![b.length]!;
}

export function loadSettings(input: LoadInput): Loaded {
  const problems: string[] = [];
  const values = new Map<string, Value | undefined>();
  const origin = new Map<string, Origin>();
  for (const s of SETTINGS) {
    values.set(s.key, s.default);
    origin.set(s.key, 'default');
  }
  const apply = (s: Setting, raw: unknown, from: Origin, where: string) => {
    const r = convert(s, raw);
    if ('problem' in r) problems.push(`${where} = ${JSON.stringify(raw)}: ${r.problem}`);
    else {
      values.set(s.key, r.value);
      origin.set(s.key, from);
    }
  };

  if (input.file !== undefined) {
    let parsed: unknown;
    try {
      parsed = yaml.load(readFileSync(input.file, 'utf8'), { filename: input.file });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      problems.push(err.code === 'ENOENT' ? `config file ${input.file} does not exist` : `config file ${input.file}: ${err.message.split('\n')[0]}`);
    }
    const flat = new Map<string, unknown>();
    flatten(parsed, '', flat, problems, input.file);
    for (const [key, raw] of flat) apply(SETTINGS.find((s) => s.key === key)!, raw, 'file', `${input.file}: ${key}`);
  }
  for (const s of SETTINGS) {
    const v = input.env?.[envName(s)];
    if (v !== undefined) apply(s, v, 'env', envName(s));
  }
  for (const s of SETTINGS) {
    const v = input.flags?.[s.key];
    if (v !== undefined) apply(s, v, 'flag', `--${flagName(s)}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return { values, origin, ...(input.file !== undefined ? { file: input.file } : {}) };
}
