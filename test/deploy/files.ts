// Readers for the deploy/ files, for the offline deploy tests: multi-document
// YAML, systemd unit and environment files, Dockerfiles and .dockerignore.
// Each reads only as much of its format as deploy/ uses, and fails loudly
// on anything else rather than guessing.

import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import yaml from 'js-yaml';
import { repoRoot } from '../harness/paths.js';

export const ROOT = repoRoot();
export const DEPLOY = join(ROOT, 'deploy');

const scratchDirs: string[] = [];
after(() => {
  for (const d of scratchDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp directory, removed when the test file ends. */
export function scratch(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `l4lb-${prefix}-`));
  scratchDirs.push(d);
  return d;
}

export function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every non-empty document of a YAML file (js-yaml multi-document). */
export function yamlDocs(rel: string): unknown[] {
  return yaml.loadAll(read(rel), undefined, { filename: rel }).filter((d) => d !== null && d !== undefined);
}

/** deploy/kubernetes/*.yaml, sorted. */
export function kubernetesFiles(): string[] {
  return readdirSync(join(DEPLOY, 'kubernetes'))
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
}

/** Nested YAML mapping -> dotted keys, as controller/config/load.ts reads the config file. */
export function flattenConfig(obj: unknown, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (!isObj(obj)) throw new Error(`${prefix || 'the config'} is not a mapping`);
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isObj(v)) flattenConfig(v, key, out);
    else out.set(key, v);
  }
  return out;
}

/** A systemd unit as [section, key, value] in file order (comments and blank lines dropped, continuations joined). */
export function unitEntries(text: string): Array<{ section: string; key: string; value: string }> {
  const out: Array<{ section: string; key: string; value: string }> = [];
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`unit line ${i + 1} is neither a section nor key=value: ${line}`);
    out.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return out;
}

/** Every value of `key` in `section`, in order. */
export function unitValues(text: string, section: string, key: string): string[] {
  return unitEntries(text)
    .filter((e) => e.section === section && e.key === key)
    .map((e) => e.value);
}

/** KEY=value lines of an environment file; `commented` for the `#KEY=value` examples. */
export function envEntries(text: string): Array<{ key: string; value: string; commented: boolean; line: number }> {
  const out: Array<{ key: string; value: string; commented: boolean; line: number }> = [];
  text.split('\n').forEach((raw, i) => {
    const m = /^(#)?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw.trim());
    if (m) out.push({ key: m[2]!, value: m[3]!, commented: m[1] === '#', line: i + 1 });
    else if (raw.trim() !== '' && !raw.trim().startsWith('#')) throw new Error(`env file line ${i + 1} is not KEY=value: ${raw}`);
  });
  return out;
}

export interface DockerInstruction {
  op: string;
  args: string;
  line: number;
}

export interface DockerStage {
  name: string;
  base: string;
  instructions: DockerInstruction[];
}

/** A Dockerfile's stages (continuations joined, comments and parser directives dropped; ARG before FROM substituted). */
export function dockerStages(text: string): DockerStage[] {
  const globalArgs = new Map<string, string>();
  const stages: DockerStage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = lines[++i]!.trim();
      if (next.startsWith('#')) continue;
      line = `${line.slice(0, -1).trimEnd()} ${next}`;
    }
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot read ${JSON.stringify(line)}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`Dockerfile line ${start}: FROM ${args}`);
      const base = f[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => globalArgs.get((a ?? b)!) ?? '');
      stages.push({ name: f[2] ?? String(stages.length), base, instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`Dockerfile line ${start}: ${op} before the first FROM`);
      const a = /^(\w+)(?:=(.*))?$/.exec(args);
      if (a) globalArgs.set(a[1]!, a[2] ?? '');
    } else {
      stages[stages.length - 1]!.instructions.push({ op, args, line: start });
    }
  }
  return stages;
}

/** COPY/ADD arguments: flags, sources, destination (JSON form or whitespace form). */
export function copyArgs(args: string): { flags: Map<string, string>; sources: string[]; dest: string } {
  const flags = new Map<string, string>();
  let rest = args.trim();
  for (let f = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest); f; f = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest)) {
    flags.set(f[1]!, f[2] ?? 'true');
    rest = rest.slice(f[0].length);
  }
  const parts = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  if (parts.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  return { flags, sources: parts.slice(0, -1), dest: parts[parts.length - 1]! };
}

/** ENV in `K=V K2=V2` form. */
export function envArgs(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) out.set(m[1]!, m[2]!.replace(/^"|"$/g, ''));
  return out;
}

/**
 * A .dockerignore as Docker applies it: patterns in order, the last match
 * wins, `!` re-includes, and a pattern that matches a directory matches
 * everything below it.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const re = pat
        .split('/')
        .map((seg) => (seg === '**' ? '(?:.*)' : seg.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${re}$`) };
    });
  /** True when `path` (relative to the context, `/`-separated) is excluded. */
  return (path: string) => {
    const segs = path.split('/');
    let excluded = false;
    for (const r of rules) {
      // The path itself or any parent directory matching counts as a match.
      for (let n = 1; n <= segs.length; n++) {
        if (r.re.test(segs.slice(0, n).join('/'))) {
          excluded = !r.negate;
          break;
        }
      }
    }
    return excluded;
  };
}

/** `512Mi`, `1Gi`, `300M` -> bytes (the Kubernetes quantities deploy/ uses). */
export function memoryBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(q);
  if (!m) throw new Error(`not a memory quantity: ${q}`);
  const mult: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
}
