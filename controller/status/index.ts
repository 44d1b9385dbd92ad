// The door to controller/status: the status API (routes, server) and the
// recorder the daemon feeds.
export { createApiHandler } from './api.js';
export { StatusServer, StatusListenError, isLoopback, type StatusServerOptions } from './server.js';
export { StatusRecorder, describeEvent, type DaemonView, type KernelReader, type StatusProvider } from './recorder.js';
export { dcosVips, summarize, detail, matchVips, backendState, type VipContext, type KernelRead } from './view.js';
export type * from './types.js';
