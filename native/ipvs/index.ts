// The door to native/ipvs: the handle, the kernel objects and their helpers.
export { IpvsHandle, type OpResult, type ServiceWithDestinations, type ApplyOptions, type ReadOptions } from './handle.js';
export {
  makeService,
  formatServiceKey,
  formatNetmask,
  serviceKeyId,
  familyOf,
  defaultNetmask,
  isPersistent,
  validateService,
  InvalidServiceError,
  type Family,
  type Protocol,
  type Service,
  type ServiceKey,
  type ServiceEntry,
} from './service.js';
export {
  makeDestination,
  formatDestinationKey,
  destinationKeyId,
  validateDestination,
  InvalidDestinationError,
  type Destination,
  type DestinationKey,
  type DestinationEntry,
  type ForwardMethod,
  type TunnelType,
} from './destination.js';
export { type Stats, emptyStats, NO_STATS } from './stats.js';
export { type Timeouts, InvalidTimeoutsError } from './config.js';
export { type Info } from './info.js';
export { IpvsUnavailableError, describeOp, encodeOp, type IpvsOp, type IpvsOpKind } from './ops.js';
export * as flags from './constants.js';
