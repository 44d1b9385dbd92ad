// IPVS connection timeouts: `ipvsadm --set TCP TCPFIN UDP` and `ipvsadm -L --timeout`.

import { Attrs } from '../netlink/reader.js';
import { MessageWriter } from '../netlink/writer.js';
import {
  IPVS_CMD_ATTR_MAX,
  IPVS_CMD_ATTR_TIMEOUT_TCP,
  IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
  IPVS_CMD_ATTR_TIMEOUT_UDP,
} from './constants.js';

/** Idle timeouts in seconds. Established TCP connections idle longer than `tcp` are forgotten. */
export interface Timeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

export class InvalidTimeoutsError extends Error {
  readonly code = 'ERR_INVALID_TIMEOUTS';
  constructor(detail: string) {
    super(`invalid IPVS timeouts: ${detail}`);
    this.name = 'InvalidTimeoutsError';
  }
}

/** Writes the attributes of IPVS_CMD_SET_CONFIG. The kernel leaves a timeout that is 0 unchanged. */
export function writeTimeouts(w: MessageWriter, t: Partial<Timeouts>): void {
  for (const [name, v] of Object.entries(t)) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0x7fffffff / 1000)) {
      throw new InvalidTimeoutsError(`${name} = ${v} is not a whole number of seconds`);
    }
  }
  if (t.tcp !== undefined) w.attrU32(IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp);
  if (t.tcpFin !== undefined) w.attrU32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpFin);
  if (t.udp !== undefined) w.attrU32(IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp);
}

export function timeoutsAttrs(): Attrs {
  return new Attrs(IPVS_CMD_ATTR_MAX);
}

export function decodeTimeouts(a: Attrs): Timeouts {
  return {
    tcp: a.u32(IPVS_CMD_ATTR_TIMEOUT_TCP),
    tcpFin: a.u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN),
    udp: a.u32(IPVS_CMD_ATTR_TIMEOUT_UDP),
  };
}
