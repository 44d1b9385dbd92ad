// The file source: a VIP file (schema in file-schema.ts) read at start and
// whenever it changes. The directory is watched, not the file, so editors
// that write a temporary file and rename it over the original (vim, sed -i,
// Kubernetes ConfigMap symlink swaps) are seen; events are debounced and a
// content hash skips no-op rewrites; a slow poll covers file systems where
// fs.watch says nothing. A bad edit keeps the last good content (state
// `stale`, lastError names the line and entry) until the file is fixed.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { SourceError } from './errors.js';
import { parseVipFile, type FileProblem } from './file-schema.js';
import { realTimers, type TimerHandle, type Timers } from './timers.js';
import type { Source, SourceSink, SourceState, SourceStatus } from './types.js';
import { transition } from './status.js';

export interface FileSourceOptions {
  /** The VIP file (YAML, or JSON when it ends in .json). */
  path: string;
  /** Source id (default `file:<absolute path>`). */
  id?: string;
  timers?: Timers;
  /** Quiet time after a change before reading, ms (default 100). */
  debounceMs?: number;
  /** Re-check the file this often even without events, ms (default 10,000; 0 = never). */
  pollMs?: number;
}

/** `vips.yaml:14: vips[2].backends[0].port: must be ...` */
export function formatProblem(file: string, p: FileProblem): string {
  return `${file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

export class FileSource implements Source {
  readonly id: string;
  readonly kind = 'file' as const;
  private readonly path: string;
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly debounceMs: number;
  private readonly pollMs: number;
  private readonly st: SourceStatus;
  private sink: SourceSink | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: TimerHandle | undefined;
  private poll: TimerHandle | undefined;
  private lastHash: string | undefined;
  private reading = false;
  private again = false;
  private stopped = false;

  constructor(opts: FileSourceOptions, logger: Logger) {
    this.path = resolve(opts.path);
    this.id = opts.id ?? `file:${this.path}`;
    this.log = logger.child({ component: 'source', source: this.id });
    this.timers = opts.timers ?? realTimers;
    this.debounceMs = opts.debounceMs ?? 100;
    this.pollMs = opts.pollMs ?? 10_000;
    this.st = { id: this.id, kind: 'file', state: 'connecting', endpoint: this.path, since: new Date(), reconnects: 0, tasks: 0 };
  }

  start(sink: SourceSink): void {
    if (this.sink !== undefined) throw new Error(`source ${this.id} already started`);
    this.sink = sink;
    this.log.info('starting', { endpoint: this.path });
    sink.status(this.status());
    this.startWatching();
    this.schedulePoll();
    void this.reload('start');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    this.timers.clearTimeout(this.debounce);
    this.timers.clearTimeout(this.poll);
    this.setState('stopped', undefined);
    this.log.info('stopped', { endpoint: this.path });
  }

  status(): SourceStatus {
    return { ...this.st };
  }

  /** Reads the file now (tests; SIGHUP handlers). */
  async reloadNow(): Promise<void> {
    await this.reload('request');
  }

  private startWatching(): void {
    if (this.stopped || this.watcher !== undefined) return;
    try {
      const w = watch(dirname(this.path), { persistent: false });
      // Any name in the directory counts: ConfigMap swaps rename `..data`,
      // not the file; the content hash makes the extra reads cheap no-ops.
      w.on('change', () => this.changed());
      w.on('error', (e) => {
        this.log.warn('watching the directory failed; polling until it works again', { endpoint: this.path, reason: e.message });
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch (e) {
      this.log.warn('cannot watch the directory; polling', { endpoint: dirname(this.path), reason: (e as Error).message });
    }
  }

  private changed(): void {
    if (this.stopped) return;
    this.timers.clearTimeout(this.debounce);
    this.debounce = this.timers.setTimeout(() => {
      this.debounce = undefined;
      void this.reload('change');
    }, this.debounceMs);
  }

  private schedulePoll(): void {
    if (this.pollMs <= 0 || this.stopped) return;
    this.poll = this.timers.setTimeout(() => {
      this.startWatching(); // a directory that came back
      void this.reload('poll');
      this.schedulePoll();
    }, this.pollMs);
  }

  private async reload(trigger: string): Promise<void> {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.again = false;
        await this.readOnce(trigger);
      } while (this.again && !this.stopped);
    } finally {
      this.reading = false;
    }
  }

  private async readOnce(trigger: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if (this.stopped) return;
      const err = new SourceError('SRC_FILE_READ', `cannot read ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { path: this.path });
      this.lastHash = undefined;
      this.fail(err.message, { code: err.code, trigger });
      return;
    }
    if (this.stopped) return;
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.lastHash) return;
    this.lastHash = hash;
    const parsed = parseVipFile(text, this.path, this.id);
    if (!parsed.ok) {
      const file = basename(this.path);
      const lines = parsed.problems.map((p) => formatProblem(file, p));
      const code = parsed.kind === 'syntax' ? 'SRC_FILE_SYNTAX' : 'SRC_FILE_INVALID';
      this.fail(lines.length > 3 ? `${lines.slice(0, 3).join('; ')}; and ${lines.length - 3} more` : lines.join('; '),
        { code, trigger, problems: lines });
      return;
    }
    this.sink?.replace(this.id, parsed.tasks);
    this.st.tasks = parsed.tasks.length;
    this.st.lastEventAt = new Date();
    this.log.info('loaded', { endpoint: this.path, trigger, vips: parsed.vips, tasks: parsed.tasks.length });
    this.setState('synced', undefined);
  }

  // A bad or missing file: keep what the sink has, say why.
  private fail(message: string, context: Record<string, unknown>): void {
    const state: SourceState = this.st.state === 'synced' || this.st.state === 'stale' ? 'stale' : 'connecting';
    this.log.warn(state === 'stale' ? 'keeping the last good file content' : 'no usable file yet', { endpoint: this.path, reason: message, ...context });
    this.setState(state, message);
  }

  private setState(state: SourceState, lastError: string | undefined): void {
    if (transition(this.st, state, lastError)) this.sink?.status(this.status());
  }
}
