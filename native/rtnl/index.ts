// rtnetlink: links and addresses (the `ip link` / `ip addr` subset l4lb needs).
// The codecs (link.ts, addr.ts) are pure; RtnlHandle does the I/O.
// Local routes will join as route.ts + RtnlHandle methods.
export { RtnlHandle, type AddrOnLink, type AddrFilter } from './handle.js';
export {
  type Link,
  type LinkRef,
  describeLink,
  decodeLink,
  encodeLinkAdd,
  encodeLinkDel,
  encodeLinkDump,
  encodeLinkGet,
  encodeLinkSetUp,
} from './link.js';
export { type Addr, type AddrSpec, describeAddr, decodeAddr, encodeAddrAdd, encodeAddrDel, encodeAddrDump } from './addr.js';
export * from './constants.js';
