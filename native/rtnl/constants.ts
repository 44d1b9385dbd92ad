// rtnetlink constants from linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h
// and linux/if.h (UAPI values; only what l4lb uses).

// Message types (enum in rtnetlink.h).
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

/** struct ifinfomsg: u8 family, u8 pad, u16 type, i32 index, u32 flags, u32 change. */
export const IFINFOMSG_SIZE = 16;
/** struct ifaddrmsg: u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index. */
export const IFADDRMSG_SIZE = 8;
/** struct rtmsg: u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags. */
export const RTMSG_SIZE = 12;

// enum rtattr_type_t (rtnetlink.h), the route attributes l4lb reads or writes.
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
export const RTA_MAX = 30; // kernel 6.x; newer attributes are ignored by the decoder

// Route types (enum RTN_*), tables (enum rt_class_t) and protocols (RTPROT_*).
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;

// enum IFLA_* (if_link.h).
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_TXQLEN = 13;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_GROUP = 27;
export const IFLA_EXT_MASK = 29;
export const IFLA_MAX = 61; // kernel 6.x; newer attributes are ignored by the decoder

// enum IFLA_INFO_* (nested in IFLA_LINKINFO).
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INFO_MAX = 5;

// RTEXT_FILTER_* for IFLA_EXT_MASK.
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

// enum IFA_* (if_addr.h).
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;
export const IFA_MAX = 11;

// IFA_F_* address flags.
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_OPTIMISTIC = 0x04;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

// Scopes (enum rt_scope_t).
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;

// Interface flags (linux/if.h, enum net_device_flags).
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;

// ARPHRD_* link types (linux/if_arp.h), the ones `ip` names most often.
export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;
export const ARPHRD_NONE = 0xfffe;
