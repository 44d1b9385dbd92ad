// IPVS module information: `ipvsadm --version` and the header of `ipvsadm -Ln`.

import { Attrs } from '../netlink/reader.js';
import { IPVS_INFO_ATTR_CONN_TAB_SIZE, IPVS_INFO_ATTR_MAX, IPVS_INFO_ATTR_VERSION } from './constants.js';

export interface Info {
  /** `1.2.1` */
  version: string;
  /** Number of buckets of the connection hash table. */
  connectionTableSize: number;
}

export function infoAttrs(): Attrs {
  return new Attrs(IPVS_INFO_ATTR_MAX);
}

export function decodeInfo(a: Attrs): Info {
  const v = a.u32(IPVS_INFO_ATTR_VERSION);
  return {
    version: `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`,
    connectionTableSize: a.u32(IPVS_INFO_ATTR_CONN_TAB_SIZE),
  };
}
