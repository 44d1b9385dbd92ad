// The real-kernel harness API, for tests, benchmarks and the demo.
export { runInKernel } from './run.js';
export { kernelAvailability, REQUIRED_MODULES, OPTIONAL_MODULES } from './detect.js';
export type { KernelAvailability, KernelMode, NetnsAvailability, UmlAvailability, Unavailable } from './detect.js';
export { KernelHarnessError, KernelUnavailableError } from './types.js';
export type { OutputStream, RunInKernelOptions, RunInKernelResult } from './types.js';
export { runKernelSuite } from './suite.js';
export type { SuiteOptions, SuiteResult, FileResult } from './suite.js';
