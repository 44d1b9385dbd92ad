// Typed IPVS write requests: encoding and error wording, shared by the
// one-at-a-time calls and the batched path.

import { errnoName, NativeError, NetlinkError } from '../errors.js';
import { NLM_F_REQUEST } from '../netlink/constants.js';
import type { ErrorPayload } from '../netlink/reader.js';
import { MessageWriter } from '../netlink/writer.js';
import {
  IPVS_CMD_DEL_DEST,
  IPVS_CMD_DEL_SERVICE,
  IPVS_CMD_NEW_DEST,
  IPVS_CMD_NEW_SERVICE,
  IPVS_CMD_SET_DEST,
  IPVS_CMD_SET_SERVICE,
  IPVS_GENL_VERSION,
} from './constants.js';
import {
  formatDestinationKey,
  validateDestination,
  writeDestination,
  writeDestinationKey,
  type Destination,
  type DestinationKey,
} from './destination.js';
import { formatServiceKey, validateService, writeService, writeServiceKey, type Service, type ServiceKey } from './service.js';

export type IpvsOp =
  | { kind: 'add-service'; service: Service }
  | { kind: 'edit-service'; service: Service }
  | { kind: 'delete-service'; service: ServiceKey }
  | { kind: 'add-destination'; service: ServiceKey; destination: Destination }
  | { kind: 'edit-destination'; service: ServiceKey; destination: Destination }
  | { kind: 'delete-destination'; service: ServiceKey; destination: DestinationKey };

export type IpvsOpKind = IpvsOp['kind'];

/** IPVS is not in this kernel: the operator has to load the module or change kernels. */
export class IpvsUnavailableError extends NativeError {
  readonly code = 'ERR_IPVS_UNAVAILABLE';
  constructor() {
    super(
      'IPVS is not available in this kernel (generic netlink family IPVS not found); ' +
        'load it with `modprobe ip_vs` or use a kernel with CONFIG_IP_VS',
    );
    this.name = 'IpvsUnavailableError';
  }
}

/** Checks an operation's fields before they reach the kernel (which would only say EINVAL). */
export function validateOp(op: IpvsOp): void {
  validateService(op.service);
  if (op.kind.endsWith('-destination')) validateDestination((op as { destination: DestinationKey }).destination);
}

/** Encodes one IPVS request message. */
export function encodeOp(w: MessageWriter, familyId: number, seq: number, flags: number, op: IpvsOp): void {
  const start = w.beginMessage(familyId, NLM_F_REQUEST | flags, seq);
  switch (op.kind) {
    case 'add-service':
      w.genlHeader(IPVS_CMD_NEW_SERVICE, IPVS_GENL_VERSION);
      writeService(w, op.service);
      break;
    case 'edit-service':
      w.genlHeader(IPVS_CMD_SET_SERVICE, IPVS_GENL_VERSION);
      writeService(w, op.service);
      break;
    case 'delete-service':
      w.genlHeader(IPVS_CMD_DEL_SERVICE, IPVS_GENL_VERSION);
      writeServiceKey(w, op.service);
      break;
    case 'add-destination':
      w.genlHeader(IPVS_CMD_NEW_DEST, IPVS_GENL_VERSION);
      writeServiceKey(w, op.service);
      writeDestination(w, op.destination);
      break;
    case 'edit-destination':
      w.genlHeader(IPVS_CMD_SET_DEST, IPVS_GENL_VERSION);
      writeServiceKey(w, op.service);
      writeDestination(w, op.destination);
      break;
    case 'delete-destination':
      w.genlHeader(IPVS_CMD_DEL_DEST, IPVS_GENL_VERSION);
      writeServiceKey(w, op.service);
      writeDestinationKey(w, op.destination);
      break;
  }
  w.endMessage(start);
}

/** `add service` + `TCP 198.51.100.10:80`, for error messages and logs. */
export function describeOp(op: IpvsOp): { op: string; object: string } {
  const verb = op.kind.replace('-', ' ');
  if (op.kind.endsWith('-service')) return { op: verb, object: formatServiceKey(op.service) };
  const d = (op as { destination: DestinationKey }).destination;
  const prep = op.kind === 'add-destination' ? 'to' : 'of';
  return { op: verb, object: `${formatDestinationKey(d)} ${prep} ${formatServiceKey(op.service)}` };
}

/** What an errno means for this kind of request, in the words of the IPVS code that returns it. */
export function explainErrno(op: IpvsOp, errno: number): string | undefined {
  const name = errnoName(errno);
  const isService = op.kind.endsWith('-service');
  switch (name) {
    case 'EEXIST':
      return isService ? 'the service already exists' : 'the destination already exists in this service';
    case 'ESRCH':
      return 'no such service';
    case 'ENOENT':
      if (op.kind === 'add-service' || op.kind === 'edit-service') {
        const s = op.service;
        return `scheduler "${s.scheduler}"${s.pe ? ` or persistence engine "${s.pe}"` : ''} is not available in this kernel (module ip_vs_${s.scheduler})`;
      }
      return 'no such destination in this service';
    case 'EINVAL':
      if (op.kind === 'add-destination' || op.kind === 'edit-destination') {
        return 'the kernel rejected the destination (masquerading needs the service\'s address family; in a fresh network namespace bring `lo` up)';
      }
      return 'the kernel rejected the parameters';
    case 'EAFNOSUPPORT':
      return 'this kernel\'s IPVS does not support the address family (CONFIG_IP_VS_IPV6)';
    case 'EBUSY':
      return 'the kernel is busy with another request on this socket';
    default:
      return undefined;
  }
}

/** The typed error for a failed request. */
export function opError(op: IpvsOp, e: Pick<ErrorPayload, 'errno' | 'extAck'>): NetlinkError {
  const { op: verb, object } = describeOp(op);
  return new NetlinkError(e.errno, verb, object, e.extAck, explainErrno(op, e.errno));
}
