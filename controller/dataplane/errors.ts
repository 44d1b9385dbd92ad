// Errors of the node dataplane, each with a stable code. Messages name the
// object (the link, the address, the sysctl key, the iptables rule) and, when
// the cause is a known environment problem, what to do about it.
//
//   DP_LINK                the VIP link cannot be found, created or set up,
//                          or a link of that name exists and is not a dummy
//   DP_ADDRESS             adding/removing VIP addresses failed (per address)
//   DP_BAD_ADDRESS         a desired VIP is not an IPv4/IPv6 address
//   DP_BAD_POOL            a VIP pool is not a range of one address family
//   DP_ROUTE               a pool route cannot be listed, added or deleted
//   DP_SYSCTL              a sysctl cannot be read or written (per key)
//   DP_IPTABLES_MISSING    the iptables binary is not installed / not in PATH
//   DP_IPTABLES_MODULE     a kernel module the rule needs is missing
//                          (xt_ipvs, xt_comment, iptable_nat, xt_MASQUERADE)
//   DP_IPTABLES_PERMISSION iptables was refused (not root / no CAP_NET_ADMIN)
//   DP_IPTABLES_TIMEOUT    iptables did not finish in time (xtables lock?)
//   DP_IPTABLES            any other iptables failure (stderr attached)

export type DataplaneErrorCode =
  | 'DP_LINK'
  | 'DP_ADDRESS'
  | 'DP_BAD_ADDRESS'
  | 'DP_BAD_POOL'
  | 'DP_ROUTE'
  | 'DP_SYSCTL'
  | 'DP_IPTABLES_MISSING'
  | 'DP_IPTABLES_MODULE'
  | 'DP_IPTABLES_PERMISSION'
  | 'DP_IPTABLES_TIMEOUT'
  | 'DP_IPTABLES';

export class DataplaneError extends Error {
  override readonly name: string = 'DataplaneError';
  readonly code: DataplaneErrorCode;
  /** Machine-readable details for logs (key, link, argv, stderr, errno). */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: DataplaneErrorCode, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.context = context;
  }
}

/** One address whose add or delete the kernel refused. */
export interface AddressFailure {
  op: 'add' | 'remove';
  /** Canonical address text. */
  address: string;
  /** errno name, e.g. `ENODEV`. */
  errno: string;
  /** The full sentence, naming the address and the link. */
  message: string;
}

/**
 * Some address operations failed; the others were applied. `failures` names
 * each address, so a caller can blame the VIP it belongs to; `applied` is
 * what did happen.
 */
export class AddressError extends DataplaneError {
  override readonly name = 'AddressError';
  constructor(
    readonly failures: readonly AddressFailure[],
    readonly applied: { added: readonly string[]; removed: readonly string[] },
  ) {
    super('DP_ADDRESS', `${failures.length} VIP address operation(s) failed: ${failures.map((f) => f.message).join('; ')}`, {
      failures,
    });
  }
}
