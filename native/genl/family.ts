// Generic netlink family resolution: CTRL_CMD_GETFAMILY by name.
//
// Equivalent to: `genl ctrl get name IPVS`. The family id of a genetlink
// family is assigned at registration (module load) and is stable for the
// lifetime of the kernel module, so it is cached per socket.

import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_ATTR_HDRSIZE,
  CTRL_ATTR_MAXATTR,
  CTRL_ATTR_VERSION,
  CTRL_CMD_GETFAMILY,
  GENL_HDRLEN,
  GENL_ID_CTRL,
  NETLINK_GENERIC,
  NLM_F_ACK,
  NLM_F_REQUEST,
} from '../netlink/constants.js';
import { Attrs, MalformedMessageError, type MessageView } from '../netlink/reader.js';
import { MessageWriter } from '../netlink/writer.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { FamilyNotFoundError, NetlinkError } from '../errors.js';

export interface GenlFamily {
  /** The netlink message type to use for this family's requests. */
  id: number;
  name: string;
  version: number;
  /** Size of the family's own header after genlmsghdr (0 for IPVS). */
  hdrSize: number;
  maxAttr: number;
}

/** Version of the controller's protocol we speak (libnl and iproute2 send 1). */
const CTRL_VERSION = 1;
/** GENL_NAMSIZ - 1: longer names cannot exist. */
const MAX_NAME_BYTES = 15;

const cache = new WeakMap<NetlinkSocket, Map<string, GenlFamily>>();

/** Encodes CTRL_CMD_GETFAMILY for `name` (NLM_F_REQUEST|NLM_F_ACK). */
export function encodeGetFamily(w: MessageWriter, seq: number, name: string): void {
  const start = w.beginMessage(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.genlHeader(CTRL_CMD_GETFAMILY, CTRL_VERSION);
  w.attrString(CTRL_ATTR_FAMILY_NAME, name);
  w.endMessage(start);
}

const famAttrs = new Attrs(CTRL_ATTR_MAXATTR);

/** Decodes a CTRL_CMD_NEWFAMILY reply message. */
export function decodeFamily(buf: Buffer, m: MessageView): GenlFamily {
  famAttrs.parse(buf, m.start + GENL_HDRLEN, m.end);
  if (!famAttrs.has(CTRL_ATTR_FAMILY_ID)) throw new MalformedMessageError('CTRL_CMD_NEWFAMILY without CTRL_ATTR_FAMILY_ID');
  return Object.freeze({
    id: famAttrs.u16(CTRL_ATTR_FAMILY_ID),
    name: famAttrs.str(CTRL_ATTR_FAMILY_NAME),
    version: famAttrs.u32(CTRL_ATTR_VERSION),
    hdrSize: famAttrs.u32(CTRL_ATTR_HDRSIZE),
    maxAttr: famAttrs.u32(CTRL_ATTR_MAXATTR),
  });
}

/**
 * Resolves a generic netlink family by name on a NETLINK_GENERIC socket;
 * cached per socket. Throws FamilyNotFoundError when the kernel does not
 * know the family (ENOENT: e.g. `IPVS` without the ip_vs module).
 */
export function resolveFamily(sock: NetlinkSocket, name: string): GenlFamily {
  let families = cache.get(sock);
  const hit = families?.get(name);
  if (hit) return hit;
  if (sock.protocol !== NETLINK_GENERIC) {
    throw new RangeError(`resolve generic netlink family ${name}: socket protocol is ${sock.protocol}, not NETLINK_GENERIC (16)`);
  }
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new FamilyNotFoundError(name, `generic netlink family name ${JSON.stringify(name)} is not 1..${MAX_NAME_BYTES} bytes`);
  }
  const w = new MessageWriter(64);
  const seq = sock.nextSeq();
  encodeGetFamily(w, seq, name);
  let family: GenlFamily | undefined;
  try {
    sock.request(w, seq, 'resolve generic netlink family', name, (buf, m) => {
      family = decodeFamily(buf, m);
    });
  } catch (e) {
    if (e instanceof NetlinkError && e.errnoName === 'ENOENT') throw new FamilyNotFoundError(name);
    throw e;
  }
  if (!family) throw new MalformedMessageError(`CTRL_CMD_GETFAMILY ${name}: acknowledged without a reply`);
  if (!families) cache.set(sock, (families = new Map()));
  families.set(name, family);
  return family;
}

/** Forgets the cached families of `sock` (e.g. after the module was reloaded). */
export function forgetFamilies(sock: NetlinkSocket): void {
  cache.delete(sock);
}
