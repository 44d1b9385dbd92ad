// VIP label syntax, as dcos-net reads it, with a typed reason for every label
// it skips (dcos-net logs and drops them; we also show them in the status).
//
// Reason codes (LabelRejection.code):
//   VIP_MISSING_COLON         value has no `:` (no port)
//   VIP_EMPTY_NAME            nothing before the last `:`
//   VIP_INVALID_NAME          the name mangles (domain_frag) to an empty DNS label
//   VIP_EMPTY_FRAMEWORK       the framework name mangles to nothing
//   VIP_PORT_NOT_INTEGER      port text is not an Erlang integer ([+-]?[0-9]+)
//   VIP_PORT_ZERO             port <= 0 (dcos-net: `Port > 0`)
//   VIP_PORT_TOO_LARGE        port > 65535: dcos-net accepts it, IPVS cannot (ours)
//   VIP_UNKNOWN_PROTOCOL      port protocol is not tcp, udp or a list of them
//   VIP_BAD_NETWORK_SCOPE     `network-scope` is not host/container, or repeated
//   VIP_DISCOVERY_PORT_ZERO   a discovery port numbered 0 carries VIP labels
//   VIP_LEGACY_BAD_INDEX      `VIP_PORT<n>` where n is not an integer >= 0
//   VIP_LEGACY_INDEX_OUT_OF_RANGE  n points past the task's port resources
//   VIP_LEGACY_BAD_SCHEME     legacy value not `tcp://...` or `udp://...`
//   VIP_IPV6_DISABLED         IPv6 IP VIP while IPv6 is disabled
//   VIP_NO_AGENT_IP           host-scope port of a task whose agent IP is unknown
//   VIP_NO_BACKEND_ADDRESS    running task without an address of the VIP's family
//   VIP_UNKNOWN_PORT          Kubernetes: `vip-<name>` names no port of the Service
//   VIP_PORT_AMBIGUOUS        Kubernetes: `vip` on a Service with more than one port
//   VIP_BAD_FRAMEWORK         Kubernetes: the framework annotation is not a DNS label
//   VIP_UNKNOWN_ANNOTATION    Kubernetes: an l4lb.thisdcos.directory/ annotation l4lb does not know
//   VIP_BAD_SCHEDULER         `l4lb.scheduler` label, scheduler annotation or file field names no
//                             IPVS scheduler (or a label list names two): the VIP keeps the default

import { formatIp, parseIp, parseIpv6 } from './ip.js';
import type { Family, Protocol, RejectionCode } from './types.js';

export interface LabelError {
  ok: false;
  code: RejectionCode;
  message: string;
}

export type VipTarget =
  | { kind: 'ip'; family: Family; address: string; port: number }
  | { kind: 'named'; host: string; port: number };

export type Parsed<T> = ({ ok: true } & T) | LabelError;

const fail = (code: RejectionCode, message: string): LabelError => ({ ok: false, code, message });

/** A discovery-port label is a VIP label when its key starts with `VIP` or `vip` (not `Vip`). */
export function isVipLabelKey(key: string): boolean {
  return key.startsWith('VIP') || key.startsWith('vip');
}

const ERLANG_INTEGER = /^[+-]?[0-9]+$/;

/** binary_to_integer/1 plus the port checks; > 65535 is our addition. */
export function parsePort(text: string): Parsed<{ port: number }> {
  if (!ERLANG_INTEGER.test(text)) {
    return fail('VIP_PORT_NOT_INTEGER', `port ${JSON.stringify(text)} is not an integer`);
  }
  const n = BigInt(text);
  if (n <= 0n) return fail('VIP_PORT_ZERO', `port ${n} must be greater than 0`);
  if (n > 65535n) return fail('VIP_PORT_TOO_LARGE', `port ${n} is above 65535`);
  return { ok: true, port: Number(n) };
}

/**
 * A VIP label value: split at the last `:`; the left side is an IP VIP if it
 * parses as an address (inet:parse_strict_address), otherwise a name kept raw
 * (`/group/app`). `[v6]:port` is also accepted as an IPv6 IP VIP (dcos-net
 * would mangle it into the name `v6digits`; nobody means that).
 */
export function parseVipValue(value: string): Parsed<{ target: VipTarget }> {
  const colon = value.lastIndexOf(':');
  if (colon < 0) return fail('VIP_MISSING_COLON', `${JSON.stringify(value)} has no ":<port>"`);
  const host = value.slice(0, colon);
  const port = parsePort(value.slice(colon + 1));
  if (!port.ok) return port;
  if (host === '') return fail('VIP_EMPTY_NAME', `${JSON.stringify(value)} has no name before ":"`);
  const ip = parseIp(host);
  if (ip !== undefined) {
    return { ok: true, target: { kind: 'ip', family: ip.family, address: ip.address, port: port.port } };
  }
  if (host.startsWith('[') && host.endsWith(']')) {
    const v6 = parseIpv6(host.slice(1, -1));
    if (v6 !== undefined) {
      return { ok: true, target: { kind: 'ip', family: 6, address: formatIp(6, v6), port: port.port } };
    }
  }
  return { ok: true, target: { kind: 'named', host, port: port.port } };
}

/**
 * A port protocol: `tcp`, `udp` (any case, as dcos-net lower-cases it), or a
 * comma list such as `udp,tcp` which yields both (Marathon's app syntax; in a
 * Mesos TaskInfo dcos-net would drop such a port). Sorted, no duplicates.
 */
export function parseProtocols(text: string): Parsed<{ protocols: Protocol[] }> {
  const found = new Set<Protocol>();
  for (const raw of text.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p !== 'tcp' && p !== 'udp') {
      return fail('VIP_UNKNOWN_PROTOCOL', `protocol ${JSON.stringify(text)} is not tcp, udp or "udp,tcp"`);
    }
    found.add(p);
  }
  return { ok: true, protocols: [...found].sort() };
}

export type NetworkScope = 'host' | 'container';

/**
 * The `network-scope` label of a discovery port (exact key, exact values):
 * absent or `container` -> container port, `host` -> host port.
 */
export function parseNetworkScope(labels: ReadonlyArray<{ key: string; value: string }>): Parsed<{
  scope: NetworkScope;
}> {
  const values = labels.filter((l) => l.key === 'network-scope').map((l) => l.value);
  if (values.length === 0) return { ok: true, scope: 'container' };
  if (values.length === 1 && (values[0] === 'host' || values[0] === 'container')) {
    return { ok: true, scope: values[0] };
  }
  return fail('VIP_BAD_NETWORK_SCOPE', `network-scope ${JSON.stringify(values)} is not "host" or "container"`);
}

export interface LegacyLabel {
  index: number;
  protocol: Protocol;
  /** `name:port` after the scheme. */
  value: string;
}

/**
 * Task-level legacy label `VIP_PORT<n>` (key case-insensitive) with value
 * `tcp://name:port` or `udp://name:port`; `n` indexes the expanded `ports`
 * resource. Returns null when the key is not a legacy VIP key.
 */
export function parseLegacyLabel(key: string, value: string): Parsed<{ legacy: LegacyLabel }> | null {
  const lower = key.toLowerCase();
  if (!lower.startsWith('vip_port')) return null;
  const indexText = key.slice('vip_port'.length);
  if (!ERLANG_INTEGER.test(indexText) || BigInt(indexText) < 0n) {
    return fail('VIP_LEGACY_BAD_INDEX', `${key}: index ${JSON.stringify(indexText)} is not an integer >= 0`);
  }
  let protocol: Protocol;
  if (value.startsWith('tcp://')) protocol = 'tcp';
  else if (value.startsWith('udp://')) protocol = 'udp';
  else return fail('VIP_LEGACY_BAD_SCHEME', `${key}: value must start with tcp:// or udp://`);
  const index = Number(BigInt(indexText));
  return { ok: true, legacy: { index, protocol, value: value.slice('tcp://'.length) } };
}
