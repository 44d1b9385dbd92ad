// DNS naming of named VIPs, byte-for-byte as DC/OS:
// mesos_state:domain_frag/1 (dcos/mesos_state src/mesos_state.erl) per part,
// parts joined with `.` (dcos_l4lb_lashup_vip_listener:to_name/1).

/** The zone every named VIP lives in. */
export const L4LB_ZONE = 'l4lb.thisdcos.directory';

const DASH = 0x2d;

const isAllowed = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39); // [a-z0-9]

/**
 * One `.`-free fragment, as mesos_state:label/3: lower-case ASCII; skip
 * characters until the first [a-z0-9]; `-`, `_`, `.` become `-`; every other
 * character (including all non-ASCII bytes) is dropped; at 63 characters
 * trailing `-` are stripped and only [a-z0-9] may still be appended up to 63;
 * trailing `-` are stripped at the end.
 */
function label(fragment: Uint8Array): string {
  const acc: number[] = [];
  let state: 'start' | 'middle' | 'terminate' = 'start';
  const stripTrailingDashes = (): void => {
    while (acc.length > 0 && acc[acc.length - 1] === DASH) acc.pop();
  };
  for (let i = 0; i < fragment.length; ) {
    let c = fragment[i] as number;
    if (c >= 0x41 && c <= 0x5a) c += 0x20; // A-Z only, as the Erlang guard
    if (state === 'start') {
      if (isAllowed(c)) {
        state = 'middle'; // re-examine c in the middle state
        continue;
      }
      i++;
      continue;
    }
    if (state === 'middle' && acc.length > 62) {
      stripTrailingDashes();
      state = 'terminate'; // re-examine c in the terminate state
      continue;
    }
    if (state === 'middle' && (c === DASH || c === 0x5f || c === 0x2e)) {
      acc.push(DASH);
      i++;
      continue;
    }
    if (state === 'terminate' && acc.length === 63) break;
    if (isAllowed(c)) acc.push(c);
    i++;
  }
  stripTrailingDashes();
  return String.fromCharCode(...acc);
}

const encoder = new TextEncoder();

/**
 * mesos_state:domain_frag/1: split the UTF-8 bytes on `.`, drop empty pieces,
 * mangle each piece with `label`, join with `.`. A piece that mangles to
 * nothing stays as an empty piece (`a.%%.b` -> `a..b`), as in DC/OS.
 */
export function domainFrag(text: string): string {
  const bytes = encoder.encode(text);
  const pieces: string[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x2e) {
      if (i > start) pieces.push(label(bytes.subarray(start, i)));
      start = i + 1;
    }
  }
  return pieces.join('.');
}

/** to_name/1: domain_frag of each part, joined with `.`. */
export function toName(parts: readonly string[]): string {
  return parts.map(domainFrag).join('.');
}

/** The phash2/SHA-1 input of a named VIP: `myapp.marathon` for `/myapp` on marathon. */
export function hashName(host: string, framework: string): string {
  return toName([host, framework]);
}

/** `myapp.marathon` -> `myapp.marathon.l4lb.thisdcos.directory`. */
export function fqdnOf(name: string): string {
  return `${name}.${L4LB_ZONE}`;
}
