// rtnetlink: links, addresses and routes (the `ip link` / `ip addr` /
// `ip route` subset l4lb needs). The codecs (link.ts, addr.ts, route.ts) are
// pure; RtnlHandle does the I/O.
export { RtnlHandle, type AddrOnLink, type AddrFilter, type RouteFilter } from './handle.js';
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
export { type Route, type RouteSpec, describeRoute, decodeRoute, encodeRouteAdd, encodeRouteDel, encodeRouteDump, routeFamily } from './route.js';
export * from './constants.js';
