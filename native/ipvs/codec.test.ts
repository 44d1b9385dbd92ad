import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MessageWriter } from '../netlink/writer.js';
import { Attrs } from '../netlink/reader.js';
import { NLM_F_ACK, NLM_F_REQUEST, GENL_HDRLEN, NLMSG_HDRLEN } from '../netlink/constants.js';
import { NetlinkError } from '../errors.js';
import {
  IPVS_CMD_ATTR_DEST,
  IPVS_CMD_ATTR_MAX,
  IPVS_CMD_ATTR_SERVICE,
  IPVS_DEST_ATTR_ACTIVE_CONNS,
  IPVS_DEST_ATTR_INACT_CONNS,
  IPVS_DEST_ATTR_STATS64,
  IPVS_STATS_ATTR_CONNS,
  IPVS_STATS_ATTR_INBYTES,
  IPVS_SVC_ATTR_FLAGS,
  IPVS_SVC_ATTR_STATS,
  IP_VS_SVC_F_HASHED,
  IP_VS_SVC_F_PERSISTENT,
} from './constants.js';
import { decodeService, makeService, serviceDecoder, formatNetmask, formatServiceKey, validateService, InvalidServiceError, writeService, type Service } from './service.js';
import {
  decodeDestination,
  destinationDecoder,
  makeDestination,
  writeDestination,
  validateDestination,
  InvalidDestinationError,
  type Destination,
} from './destination.js';
import { statsAttrs } from './stats.js';
import { describeOp, encodeOp, opError, type IpvsOp } from './ops.js';

const unhex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function serviceRoundTrip(s: Service) {
  const w = new MessageWriter();
  writeService(w, s);
  const buf = Buffer.from(w.view());
  const cmd = new Attrs(IPVS_CMD_ATTR_MAX).parse(buf, 0, buf.length);
  const dec = serviceDecoder(statsAttrs());
  assert.ok(cmd.nested(IPVS_CMD_ATTR_SERVICE, dec.svc));
  const { stats, ...rest } = decodeService(dec.svc, dec);
  assert.equal(stats.connections, 0);
  return rest;
}

function destinationRoundTrip(d: Destination) {
  const w = new MessageWriter();
  writeDestination(w, d);
  const buf = Buffer.from(w.view());
  const cmd = new Attrs(IPVS_CMD_ATTR_MAX).parse(buf, 0, buf.length);
  const dec = destinationDecoder(statsAttrs());
  assert.ok(cmd.nested(IPVS_CMD_ATTR_DEST, dec.dest));
  const { stats, activeConnections, inactiveConnections, persistentConnections, ...rest } = decodeDestination(dec.dest, dec, d.family);
  void stats;
  void activeConnections;
  void inactiveConnections;
  void persistentConnections;
  return rest;
}

test('services of every kind decode to what was encoded', () => {
  const cases: Service[] = [
    makeService({ address: '198.51.100.10', port: 80 }),
    makeService({ address: '198.51.100.11', port: 53, protocol: 'udp', scheduler: 'rr' }),
    makeService({ address: '198.51.100.12', port: 9, protocol: 'sctp', scheduler: 'mh', flags: 0x18 }),
    makeService({ address: '2001:db8::10', port: 443, scheduler: 'sh', flags: IP_VS_SVC_F_PERSISTENT, timeout: 360, netmask: 64 }),
    makeService({ address: '0.0.0.0', port: 0, fwmark: 7, scheduler: 'wrr' }),
    makeService({ address: '::', family: 'inet6', port: 0, fwmark: 0xffffffff, scheduler: 'lc', pe: 'sip', flags: IP_VS_SVC_F_PERSISTENT, timeout: 30 }),
    makeService({ address: '203.0.113.1', port: 65535, flags: IP_VS_SVC_F_PERSISTENT, timeout: 1, netmask: 0xffffff00 }),
  ];
  for (const s of cases) assert.deepEqual(serviceRoundTrip(s), s, formatServiceKey(s));
});

test('destinations of every forwarding method decode to what was encoded', () => {
  const cases: Destination[] = [
    makeDestination({ address: '198.51.100.21', port: 8080 }),
    makeDestination({ address: '198.51.100.22', port: 8080, forward: 'route', weight: 0 }),
    makeDestination({ address: '198.51.100.23', port: 0, forward: 'tunnel', weight: 65535, upperThreshold: 100, lowerThreshold: 10 }),
    makeDestination({ address: '2001:db8::21', port: 80, forward: 'tunnel', tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: 1 }),
    makeDestination({ address: '2001:db8::22', port: 80, forward: 'tunnel', tunnelType: 'gre', tunnelFlags: 3 }),
  ];
  for (const d of cases) assert.deepEqual(destinationRoundTrip(d), d);
});

test('the kernel-internal HASHED flag is masked out; STATS64 wins over STATS', () => {
  const w = new MessageWriter();
  const n = w.beginNest(IPVS_CMD_ATTR_SERVICE);
  const s = makeService({ address: '198.51.100.10', port: 80 });
  // Reuse the real encoder for the key and options, then add what a dump adds.
  const inner = new MessageWriter();
  writeService(inner, s);
  const innerBuf = Buffer.from(inner.view());
  // Copy the nest's payload (skip its 4-byte header) into ours.
  for (const b of innerBuf.subarray(4)) w.u8(b);
  const flags = w.beginNest(IPVS_SVC_ATTR_FLAGS);
  w.u32(IP_VS_SVC_F_HASHED | IP_VS_SVC_F_PERSISTENT);
  w.u32(0xffffffff);
  w.endNest(flags);
  const st = w.beginNest(IPVS_SVC_ATTR_STATS);
  w.attrU32(IPVS_STATS_ATTR_CONNS, 1);
  w.endNest(st);
  w.endNest(n);
  const buf = Buffer.from(w.view());
  const dec = serviceDecoder(statsAttrs());
  new Attrs(IPVS_CMD_ATTR_MAX).parse(buf, 0, buf.length).nested(IPVS_CMD_ATTR_SERVICE, dec.svc);
  const got = decodeService(dec.svc, dec);
  assert.equal(got.flags, IP_VS_SVC_F_PERSISTENT);
  assert.equal(got.stats.connections, 1);

  const dw = new MessageWriter();
  const dn = dw.beginNest(IPVS_CMD_ATTR_DEST);
  const dInner = new MessageWriter();
  writeDestination(dInner, makeDestination({ address: '198.51.100.21', port: 80 }));
  for (const b of Buffer.from(dInner.view()).subarray(4)) dw.u8(b);
  dw.attrU32(IPVS_DEST_ATTR_ACTIVE_CONNS, 3);
  dw.attrU32(IPVS_DEST_ATTR_INACT_CONNS, 4);
  const s64 = dw.beginNest(IPVS_DEST_ATTR_STATS64);
  dw.attrU64(IPVS_STATS_ATTR_CONNS, 2 ** 33);
  dw.attrU64(IPVS_STATS_ATTR_INBYTES, 2 ** 45);
  dw.endNest(s64);
  dw.endNest(dn);
  const dbuf = Buffer.from(dw.view());
  const dd = destinationDecoder(statsAttrs());
  new Attrs(IPVS_CMD_ATTR_MAX).parse(dbuf, 0, dbuf.length).nested(IPVS_CMD_ATTR_DEST, dd.dest);
  const dest = decodeDestination(dd.dest, dd, 'inet');
  assert.equal(dest.activeConnections, 3);
  assert.equal(dest.inactiveConnections, 4);
  assert.equal(dest.stats.connections, 2 ** 33);
  assert.equal(dest.stats.bytesIn, 2 ** 45);
});

test('delete-destination request is byte-exact', () => {
  const w = new MessageWriter();
  const op: IpvsOp = {
    kind: 'delete-destination',
    service: makeService({ address: '198.51.100.10', port: 80, protocol: 'udp' }),
    destination: { family: 'inet', address: '198.51.100.21', port: 53 },
  };
  encodeOp(w, 0x1a, 0x01020304, NLM_F_ACK, op);
  const expected = unhex(`
    6c000000 1a00 0500 04030201 00000000
    07 01 0000
    3000 0100
      0600 0100 0200 0000
      0600 0200 1100 0000
      1400 0300 c633640a 00000000 00000000 00000000
      0600 0400 0050 0000
    2800 0200
      0600 0b00 0200 0000
      1400 0100 c6336415 00000000 00000000 00000000
      0600 0200 0035 0000`);
  assert.equal(w.view().toString('hex'), expected.toString('hex'));
  assert.equal(NLM_F_REQUEST, 1);
  assert.equal(w.view().length, NLMSG_HDRLEN + GENL_HDRLEN + 0x30 + 0x28);
});

test('invalid services and destinations are refused with the reason, before the kernel', () => {
  assert.throws(() => validateService(makeService({ address: '198.51.100.10', port: 70000 })), InvalidServiceError);
  assert.throws(() => validateService(makeService({ address: '2001:db8::1', port: 80, family: 'inet' })), /not an IPv4 address/);
  assert.throws(() => validateService(makeService({ address: '198.51.100.1', port: 80, scheduler: 'a-very-long-scheduler' })), /1-15 characters/);
  assert.throws(() => validateService(makeService({ address: '2001:db8::1', port: 80, netmask: 0 })), /prefix length 0/);
  assert.throws(() => validateDestination(makeDestination({ address: '198.51.100.1', port: 80, weight: 70000 })), InvalidDestinationError);
  assert.throws(() => validateDestination(makeDestination({ address: 'backend', port: 80 })), /not an IPv4 address/);
  assert.doesNotThrow(() => validateService(makeService({ address: '198.51.100.1', port: 80, fwmark: 3 })));
});

test('errors name the operation, the object and what the errno means here', () => {
  const svc = makeService({ address: '198.51.100.10', port: 80, scheduler: 'nope' });
  const add: IpvsOp = { kind: 'add-service', service: svc };
  assert.deepEqual(describeOp(add), { op: 'add service', object: 'TCP 198.51.100.10:80' });
  const e1 = opError(add, { errno: 2 });
  assert.ok(e1 instanceof NetlinkError);
  assert.equal(e1.errnoName, 'ENOENT');
  assert.match(e1.message, /^add service TCP 198\.51\.100\.10:80: ENOENT \(scheduler "nope" is not available in this kernel \(module ip_vs_nope\)\)/);
  const dup = opError({ kind: 'add-service', service: makeService({ address: '2001:db8::1', port: 443 }) }, { errno: 17 });
  assert.equal(dup.message, 'add service TCP [2001:db8::1]:443: EEXIST (the service already exists)');
  const del = opError(
    { kind: 'delete-destination', service: svc, destination: { family: 'inet', address: '198.51.100.21', port: 80 } },
    { errno: 2, extAck: 'dest not found' },
  );
  assert.equal(del.message, 'delete destination 198.51.100.21:80 of TCP 198.51.100.10:80: ENOENT (no such destination in this service): dest not found');
  const perm = opError({ kind: 'delete-service', service: svc }, { errno: 1 });
  assert.match(perm.message, /CAP_NET_ADMIN/);
  assert.equal(opError({ kind: 'delete-service', service: svc }, { errno: 3 }).message, 'delete service TCP 198.51.100.10:80: ESRCH (no such service)');
});

test('netmask prints the way ipvsadm prints it', () => {
  assert.equal(formatNetmask({ family: 'inet', netmask: 0xffffff00 }), '255.255.255.0');
  assert.equal(formatNetmask({ family: 'inet6', netmask: 64 }), '64');
});
