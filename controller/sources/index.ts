// The sources: each watches one outside system and tells a SourceSink what
// tasks it sees (contract in types.ts). Everything outside controller/sources
// imports from here only.
//
//   const sources = createSources({ mesos: { masters: ['http://leader.mesos:5050'] }, kubernetes: {} }, logger);
//   for (const s of sources) s.start(sink);

import type { Logger } from '../log.js';
import { SourceError } from './errors.js';
import { FileSource, type FileSourceOptions } from './file.js';
import { KubernetesSource, type KubernetesSourceOptions } from './kubernetes.js';
import { MarathonSource, type MarathonSourceOptions } from './marathon.js';
import { MesosSource, type MesosSourceOptions } from './mesos.js';
import { createDnsResolver } from './resolver.js';
import type { Source } from './types.js';

export type { Source, SourceKind, SourceSink, SourceState, SourceStatus } from './types.js';
export { SourceError, type SourceErrorCode } from './errors.js';
export { MesosSource, masterApiUrl, type MesosSourceOptions } from './mesos.js';
export { MarathonSource, MARATHON_EVENT_TYPES, appsOfEvent, type MarathonSourceOptions } from './marathon.js';
export { appPorts, discoveryName, networkMode, tasksFromApp, type AppPort, type AppResult, type MarathonContext, type NetworkMode } from './marathon-app.js';
export { FileSource, formatProblem, type FileSourceOptions } from './file.js';
export { parseVipFile, type FileParse, type FileProblem } from './file-schema.js';
export { RecordIoDecoder, encodeRecord, DEFAULT_MAX_RECORD_BYTES, type RecordIoOptions } from './recordio.js';
export { SseParser, encodeSse, type SseEvent, type SseOptions } from './sse.js';
export { createDnsResolver, staticResolver, type AgentResolver, type DnsResolverOptions } from './resolver.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { realTimers, type TimerHandle, type Timers } from './timers.js';
export { authorizationHeader, type HttpAuth } from './http.js';
export type { ReconnectOptions } from './watch.js';
export { KubernetesSource, SERVICE_ACCOUNT_DIR, type KubernetesSourceOptions } from './kubernetes.js';
export {
  ANNOTATION_PREFIX, DEFAULT_FRAMEWORK, FRAMEWORK_ANNOTATION, SERVICE_NAME_LABEL, VIP_ANNOTATION, VIP_PORT_ANNOTATION,
  endpointState, serviceTasks, serviceVips, type ServiceTasks, type ServiceVipPort, type ServiceVips,
} from './kubernetes-objects.js';

export interface SourcesOptions {
  mesos?: MesosSourceOptions;
  marathon?: MarathonSourceOptions;
  /** One or more VIP files. */
  file?: FileSourceOptions | readonly FileSourceOptions[];
  /** Services and EndpointSlices of a Kubernetes cluster (in-cluster or a kubeconfig). */
  kubernetes?: KubernetesSourceOptions;
}

/**
 * The configured sources, not started. Mesos and Marathon share one cached
 * agent resolver unless given their own. Throws SourceError(SRC_BAD_OPTIONS)
 * for a malformed option (bad URL, unreadable CA file); connection problems
 * never throw, they become each source's status.
 */
export function createSources(opts: SourcesOptions, logger: Logger): Source[] {
  const sources: Source[] = [];
  const shared = opts.mesos !== undefined || opts.marathon !== undefined ? createDnsResolver() : undefined;
  if (opts.mesos !== undefined) sources.push(new MesosSource({ ...(shared !== undefined && { resolver: shared }), ...opts.mesos }, logger));
  if (opts.marathon !== undefined) sources.push(new MarathonSource({ ...(shared !== undefined && { resolver: shared }), ...opts.marathon }, logger));
  const files: readonly FileSourceOptions[] = opts.file === undefined ? [] : Array.isArray(opts.file) ? opts.file : [opts.file as FileSourceOptions];
  for (const f of files) sources.push(new FileSource(f, logger));
  if (opts.kubernetes !== undefined) sources.push(new KubernetesSource(opts.kubernetes, logger));
  const ids = new Set<string>();
  for (const s of sources) {
    if (ids.has(s.id)) throw new SourceError('SRC_BAD_OPTIONS', `two sources with the id ${s.id}`);
    ids.add(s.id);
  }
  return sources;
}
