// Generic netlink: family resolution. See family.ts.
export { resolveFamily, forgetFamilies, encodeGetFamily, decodeFamily, type GenlFamily } from './family.js';
