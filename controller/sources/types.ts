// The contract between sources and the model: a source watches one outside
// system and tells a sink what tasks it sees. Data flows one way.
//
// Level semantics: `replace` is a complete view (first sync, or the snapshot
// after a reconnect) that replaces everything the source said before in one
// step; `upsert`/`remove` are changes on top of it. When a source loses its
// connection it reports `stale` and says nothing else: the last known tasks
// stay (no VIP is withdrawn because a master is unreachable).

import type { LabelRejection, Task, TaskRef } from '../model/index.js';

export type SourceKind = 'mesos' | 'marathon' | 'file' | 'kubernetes';

/**
 * connecting: no complete view yet. synced: the view is current.
 * stale: connection lost; the last view is kept while reconnecting.
 * stopped: stop() was called.
 */
export type SourceState = 'connecting' | 'synced' | 'stale' | 'stopped';

export interface SourceStatus {
  /** `mesos`, `marathon`, `file:/etc/l4lb/vips.yaml`... unique per daemon. */
  id: string;
  kind: SourceKind;
  state: SourceState;
  /** Where it reads from (URL of the current leader, file path). */
  endpoint: string;
  /** When `state` last changed. */
  since: Date;
  /** Last event or snapshot received, if any. */
  lastEventAt?: Date;
  /** The error that caused the last state change, in words an operator can act on. */
  lastError?: string;
  /** Reconnects since start. */
  reconnects: number;
  /** Tasks currently reported. */
  tasks: number;
}

export interface SourceSink {
  replace(sourceId: string, tasks: readonly Task[]): void;
  upsert(task: Task): void;
  remove(ref: TaskRef): void;
  /** Problems found in the input that are not about one task's labels (bad records, bad file entries). */
  rejected?(sourceId: string, rejections: readonly LabelRejection[]): void;
  status(s: SourceStatus): void;
}

export interface Source {
  readonly id: string;
  readonly kind: SourceKind;
  /** Starts watching; never throws for connection problems (they become status). */
  start(sink: SourceSink): void;
  /** Stops watching and closes connections; the sink keeps what it has. */
  stop(): Promise<void>;
  status(): SourceStatus;
}
