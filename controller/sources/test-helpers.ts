// Shared by the source tests (not a test file): a sink that records every
// call, a logger that keeps its lines, waiting for conditions.

import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../log.js';
import type { Task, TaskRef } from '../model/index.js';
import type { SourceSink, SourceStatus } from './types.js';

export type SinkCall =
  | { op: 'replace'; source: string; ids: string[] }
  | { op: 'upsert'; id: string }
  | { op: 'remove'; id: string }
  | { op: 'status'; state: SourceStatus['state']; lastError?: string };

export class RecordingSink implements SourceSink {
  readonly calls: SinkCall[] = [];
  /** The view the sink holds now, by task id. */
  readonly tasks = new Map<string, Task>();
  last: SourceStatus | undefined;

  replace(source: string, tasks: readonly Task[]): void {
    this.tasks.clear();
    for (const t of tasks) this.tasks.set(t.id, t);
    this.calls.push({ op: 'replace', source, ids: tasks.map((t) => t.id).sort() });
  }

  upsert(task: Task): void {
    this.tasks.set(task.id, task);
    this.calls.push({ op: 'upsert', id: task.id });
  }

  remove(ref: TaskRef): void {
    this.tasks.delete(ref.id);
    this.calls.push({ op: 'remove', id: ref.id });
  }

  status(s: SourceStatus): void {
    this.last = s;
    this.calls.push({ op: 'status', state: s.state, ...(s.lastError !== undefined && { lastError: s.lastError }) });
  }

  get state(): SourceStatus['state'] | undefined {
    return this.last?.state;
  }

  /** Calls after index `from`, as short strings: `replace(a,b)`, `upsert(a)`, `status(stale)`. */
  trace(from = 0): string[] {
    return this.calls.slice(from).map((c) => {
      switch (c.op) {
        case 'replace': return `replace(${c.ids.join(',')})`;
        case 'upsert': return `upsert(${c.id})`;
        case 'remove': return `remove(${c.id})`;
        case 'status': return `status(${c.state})`;
      }
    });
  }

  /** Number of `status` calls with this state. */
  count(op: SinkCall['op']): number {
    return this.calls.filter((c) => c.op === op).length;
  }
}

/** A logger whose JSON lines are kept in `lines`. */
export function captureLogger(level: 'info' | 'debug' = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level, format: 'json', stream }), lines };
}

/** Polls `cond` until true; throws with `what` after `timeoutMs` (generous: a condition, not a timing). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets pending I/O callbacks run. */
export function settle(ms = 20): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
