// The IPVS API: one socket, one resolved family, reusable encode and decode
// buffers. Single calls wait for their own ACK; `apply` batches any number of
// writes into few sendmsg calls (see native/netlink/batch.ts).

import { FamilyNotFoundError, NetlinkError, DumpInterruptedError } from '../errors.js';
import { resolveFamily } from '../genl/family.js';
import { NETLINK_GENERIC, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, GENL_HDRLEN } from '../netlink/constants.js';
import { NetlinkBatch } from '../netlink/batch.js';
import { Attrs, type MessageView } from '../netlink/reader.js';
import { NetlinkSocket, type SocketOptions } from '../netlink/socket.js';
import { MessageWriter } from '../netlink/writer.js';
import {
  IPVS_CMD_ATTR_DEST,
  IPVS_CMD_ATTR_MAX,
  IPVS_CMD_ATTR_SERVICE,
  IPVS_CMD_FLUSH,
  IPVS_CMD_GET_CONFIG,
  IPVS_CMD_GET_DEST,
  IPVS_CMD_GET_INFO,
  IPVS_CMD_GET_SERVICE,
  IPVS_CMD_SET_CONFIG,
  IPVS_CMD_ZERO,
  IPVS_GENL_NAME,
  IPVS_GENL_VERSION,
} from './constants.js';
import { decodeTimeouts, writeTimeouts, type Timeouts } from './config.js';
import { decodeDestination, destinationDecoder, type Destination, type DestinationEntry, type DestinationKey } from './destination.js';
import { decodeInfo, infoAttrs, type Info } from './info.js';
import { encodeOp, describeOp, IpvsUnavailableError, opError, validateOp, type IpvsOp } from './ops.js';
import {
  decodeService,
  formatServiceKey,
  serviceDecoder,
  writeServiceKey,
  type Service,
  type ServiceEntry,
  type ServiceKey,
} from './service.js';
import { statsAttrs } from './stats.js';

export interface OpResult {
  op: IpvsOp;
  /**
   * Set when this operation was refused: NetlinkError from the kernel, or
   * InvalidServiceError/InvalidDestinationError before sending. The others still applied.
   */
  error?: Error & { code: string };
}

export interface ServiceWithDestinations extends ServiceEntry {
  destinations: DestinationEntry[];
}

export interface ReadOptions {
  /** Decode traffic counters (default true); false gives every entry the shared NO_STATS. */
  stats?: boolean;
}

export interface ApplyOptions {
  /** Bytes of requests per sendmsg; the floor measured at 64-256 KiB. */
  maxBatchBytes?: number;
}

/** How often a dump is retried when the table changed under it (NLM_F_DUMP_INTR). */
const DUMP_RETRIES = 5;

export class IpvsHandle {
  private readonly w = new MessageWriter(64 * 1024);
  private readonly cmd = new Attrs(IPVS_CMD_ATTR_MAX);
  private readonly svcDec = serviceDecoder(statsAttrs());
  private readonly destDec = destinationDecoder(statsAttrs());
  private readonly info_ = infoAttrs();
  private closed = false;

  private constructor(
    private readonly sock: NetlinkSocket,
    /** Generic netlink id of the IPVS family in this kernel. */
    readonly familyId: number,
  ) {}

  /** Opens a socket and resolves the IPVS family; throws IpvsUnavailableError when the kernel has none. */
  static open(opts: SocketOptions = {}): IpvsHandle {
    const sock = NetlinkSocket.open(NETLINK_GENERIC, opts);
    try {
      const fam = resolveFamily(sock, IPVS_GENL_NAME);
      return new IpvsHandle(sock, fam.id);
    } catch (e) {
      sock.close();
      if (e instanceof FamilyNotFoundError) throw new IpvsUnavailableError();
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }

  private begin(cmd: number, flags: number): number {
    this.w.reset();
    const seq = this.sock.nextSeq();
    this.w.beginMessage(this.familyId, NLM_F_REQUEST | flags, seq);
    this.w.genlHeader(cmd, IPVS_GENL_VERSION);
    return seq;
  }

  private finish(): void {
    this.w.endMessage(0);
  }

  /** Parses the genl payload of a reply into the command-level attribute table. */
  private cmdAttrs(buf: Buffer, m: MessageView): Attrs {
    return this.cmd.parse(buf, m.start + GENL_HDRLEN, m.end);
  }

  /** `ipvsadm --version`: IPVS version and connection table size. */
  info(): Info {
    const seq = this.begin(IPVS_CMD_GET_INFO, NLM_F_ACK);
    this.finish();
    let out: Info | undefined;
    this.sock.request(this.w, seq, 'get IPVS info', '', (buf, m) => {
      out = decodeInfo(this.info_.parse(buf, m.start + GENL_HDRLEN, m.end));
    });
    if (!out) throw new NetlinkError(0, 'get IPVS info', '', undefined, 'the kernel sent no reply');
    return out;
  }

  /** `ipvsadm -L --timeout`. */
  getTimeouts(): Timeouts {
    const seq = this.begin(IPVS_CMD_GET_CONFIG, NLM_F_ACK);
    this.finish();
    let out: Timeouts | undefined;
    this.sock.request(this.w, seq, 'get IPVS timeouts', '', (buf, m) => {
      out = decodeTimeouts(this.cmdAttrs(buf, m));
    });
    if (!out) throw new NetlinkError(0, 'get IPVS timeouts', '', undefined, 'the kernel sent no reply');
    return out;
  }

  /** `ipvsadm --set TCP TCPFIN UDP`; a field left out (or 0) keeps its current value. */
  setTimeouts(t: Partial<Timeouts>): void {
    const seq = this.begin(IPVS_CMD_SET_CONFIG, NLM_F_ACK);
    writeTimeouts(this.w, t);
    this.finish();
    this.sock.request(this.w, seq, 'set IPVS timeouts', `tcp=${t.tcp ?? '-'} tcpfin=${t.tcpFin ?? '-'} udp=${t.udp ?? '-'}`);
  }

  /** Every service (`ipvsadm -Ln` without destinations). */
  services(opts: ReadOptions = {}): ServiceEntry[] {
    this.svcDec.withStats = opts.stats !== false;
    return this.retryDump(() => {
      const seq = this.begin(IPVS_CMD_GET_SERVICE, NLM_F_DUMP);
      this.finish();
      const out: ServiceEntry[] = [];
      this.sock.dump(this.w, seq, 'list IPVS services', '', (buf, m) => {
        const a = this.cmdAttrs(buf, m);
        if (a.nested(IPVS_CMD_ATTR_SERVICE, this.svcDec.svc)) out.push(decodeService(this.svcDec.svc, this.svcDec));
      });
      return out;
    });
  }

  /** One service, or undefined when it does not exist. */
  service(key: ServiceKey, opts: ReadOptions = {}): ServiceEntry | undefined {
    this.svcDec.withStats = opts.stats !== false;
    const seq = this.begin(IPVS_CMD_GET_SERVICE, NLM_F_ACK);
    writeServiceKey(this.w, key);
    this.finish();
    let out: ServiceEntry | undefined;
    try {
      this.sock.request(this.w, seq, 'get service', formatServiceKey(key), (buf, m) => {
        const a = this.cmdAttrs(buf, m);
        if (a.nested(IPVS_CMD_ATTR_SERVICE, this.svcDec.svc)) out = decodeService(this.svcDec.svc, this.svcDec);
      });
    } catch (e) {
      if (e instanceof NetlinkError && e.errnoName === 'ESRCH') return undefined;
      throw e;
    }
    return out;
  }

  /** The destinations of one service (`ipvsadm -Ln -t VIP:PORT`). */
  destinations(key: ServiceKey, opts: ReadOptions = {}): DestinationEntry[] {
    this.destDec.withStats = opts.stats !== false;
    const object = formatServiceKey(key);
    return this.retryDump(() => {
      const seq = this.begin(IPVS_CMD_GET_DEST, NLM_F_DUMP);
      writeServiceKey(this.w, key);
      this.finish();
      const out: DestinationEntry[] = [];
      this.sock.dump(this.w, seq, 'list destinations', object, (buf, m) => {
        const a = this.cmdAttrs(buf, m);
        if (a.nested(IPVS_CMD_ATTR_DEST, this.destDec.dest)) out.push(decodeDestination(this.destDec.dest, this.destDec, key.family));
      });
      return out;
    });
  }

  /**
   * The whole table: one service dump, then one destination dump per service
   * (the kernel has no single dump of both). A service deleted between the two
   * is left out rather than failing the whole read.
   */
  dump(opts: ReadOptions = {}): ServiceWithDestinations[] {
    const services = this.services(opts);
    const out: ServiceWithDestinations[] = [];
    for (const s of services) {
      try {
        const full = s as ServiceWithDestinations;
        full.destinations = this.destinations(s, opts);
        out.push(full);
      } catch (e) {
        if (e instanceof NetlinkError && e.errnoName === 'ESRCH') continue;
        throw e;
      }
    }
    return out;
  }

  addService(service: Service): void {
    this.one({ kind: 'add-service', service });
  }
  editService(service: Service): void {
    this.one({ kind: 'edit-service', service });
  }
  deleteService(service: ServiceKey): void {
    this.one({ kind: 'delete-service', service });
  }
  addDestination(service: ServiceKey, destination: Destination): void {
    this.one({ kind: 'add-destination', service, destination });
  }
  editDestination(service: ServiceKey, destination: Destination): void {
    this.one({ kind: 'edit-destination', service, destination });
  }
  deleteDestination(service: ServiceKey, destination: DestinationKey): void {
    this.one({ kind: 'delete-destination', service, destination });
  }

  /** `ipvsadm -C`: deletes every service. Deleted destinations linger in the kernel's trash for minutes. */
  flush(): void {
    const seq = this.begin(IPVS_CMD_FLUSH, NLM_F_ACK);
    this.finish();
    this.sock.request(this.w, seq, 'flush IPVS', '');
  }

  /** `ipvsadm -Z [-t ...]`: zeroes the counters of one service, or of all. */
  zero(key?: ServiceKey): void {
    const seq = this.begin(IPVS_CMD_ZERO, NLM_F_ACK);
    if (key) writeServiceKey(this.w, key);
    this.finish();
    this.sock.request(this.w, seq, 'zero counters', key ? formatServiceKey(key) : 'of all services');
  }

  /**
   * Applies many writes with few syscalls: requests go without ACK in batches
   * of ~128 KiB, each closed by one acknowledged barrier. Every operation gets
   * its own result; one failure does not stop the others. Order is kept, so a
   * service added earlier in `ops` exists for its destinations.
   */
  apply(ops: readonly IpvsOp[], opts: ApplyOptions = {}): OpResult[] {
    const results: OpResult[] = new Array(ops.length);
    // The default barrier is an acknowledged NLMSG_NOOP: the kernel ACKs it
    // without a reply datagram and without touching IPVS.
    const batch = new NetlinkBatch<number>(this.sock, { op: 'apply IPVS changes', maxBytes: opts.maxBatchBytes ?? 128 * 1024 });
    const familyId = this.familyId;
    const encode = (w: MessageWriter, seq: number, i: number) => encodeOp(w, familyId, seq, 0, ops[i]!);
    for (let i = 0; i < ops.length; i++) {
      try {
        validateOp(ops[i]!);
      } catch (e) {
        results[i] = { op: ops[i]!, error: e as Error & { code: string } };
        continue;
      }
      batch.push(i, encode);
    }
    for (const r of batch.finish()) {
      const op = ops[r.item]!;
      results[r.item] = r.errno === 0 ? { op } : { op, error: opError(op, r) };
    }
    return results;
  }

  private one(op: IpvsOp): void {
    validateOp(op);
    this.w.reset();
    const seq = this.sock.nextSeq();
    encodeOp(this.w, this.familyId, seq, NLM_F_ACK, op);
    const { op: verb, object } = describeOp(op);
    try {
      this.sock.request(this.w, seq, verb, object);
    } catch (e) {
      if (e instanceof NetlinkError) throw opError(op, e);
      throw e;
    }
  }

  private retryDump<T>(run: () => T): T {
    for (let attempt = 1; ; attempt++) {
      try {
        return run();
      } catch (e) {
        if (!(e instanceof DumpInterruptedError) || attempt >= DUMP_RETRIES) throw e;
      }
    }
  }
}
