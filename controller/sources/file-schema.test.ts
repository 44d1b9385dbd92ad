import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VipTable } from '../model/index.js';
import { parseVipFile, type FileParse } from './file-schema.js';

const EXAMPLE = fileURLToPath(new URL('../../../test/fixtures/vips.yaml', import.meta.url));

function problems(text: string, file = 'vips.yaml'): string[] {
  const r = parseVipFile(text, file, 'file');
  assert.equal(r.ok, false, 'expected problems');
  return (r as Extract<FileParse, { ok: false }>).problems.map((p) => `${p.line ?? '-'} ${p.path}: ${p.message}`);
}

function ok(text: string, file = 'vips.yaml') {
  const r = parseVipFile(text, file, 'file');
  if (!r.ok) assert.fail(r.problems.map((p) => p.message).join('; '));
  return r;
}

describe('VIP file: valid files', () => {
  it('the example file gives the VIPs it documents', () => {
    const r = ok(readFileSync(EXAMPLE, 'utf8'));
    assert.equal(r.vips, 4);
    const table = new VipTable();
    table.replaceSource('file', r.tasks);
    const rows = table.vips().map((v) => `${v.protocol} ${v.address}:${v.port} ${v.names.join(',')} ${v.backends.map((b) => `${b.ip}:${b.port}/${b.weight}`).join(' ')}`);
    assert.deepEqual(rows.sort(), [
      'tcp 11.215.13.222:80 myapp.marathon.l4lb.thisdcos.directory 10.0.0.5:8080/1 10.0.0.6:8080/1 10.0.0.7:8080/0',
      'tcp 198.51.100.10:443  10.0.0.9:8443/1',
      'tcp 2001:db8::10:443  fd00::9:8443/1',
      `tcp ${table.names().find((n) => n.name === 'dns.marathon')?.ipv4}:53 dns.marathon.l4lb.thisdcos.directory 10.0.0.8:5353/1`,
      `udp ${table.names().find((n) => n.name === 'dns.marathon')?.ipv4}:53 dns.marathon.l4lb.thisdcos.directory 10.0.0.8:5353/1`,
    ].sort());
    assert.deepEqual(table.rejected(), []);
  });

  it('reads the same content as JSON', () => {
    const json = JSON.stringify({ vips: [{ name: '/myapp:80', backends: [{ ip: '10.0.0.5', port: 8080 }] }] });
    const r = ok(json, 'vips.json');
    assert.deepEqual(r.tasks.map((t) => t.id), ['tcp//myapp:80/10.0.0.5:8080']);
  });

  it('an empty file, a comment-only file and an empty list are valid and empty', () => {
    for (const text of ['', '# nothing yet\n', 'vips: []\n', 'version: 1\nvips:\n']) assert.deepEqual(ok(text).tasks, []);
  });

  it('gives backends ids that do not depend on the order of entries', () => {
    const a = ok('vips:\n- {name: a:1, backends: [{ip: 10.0.0.1, port: 1}]}\n- {name: b:2, backends: [{ip: 10.0.0.2, port: 2}]}\n');
    const b = ok('vips:\n- {name: b:2, backends: [{ip: 10.0.0.2, port: 2}]}\n- {name: a:1, backends: [{ip: 10.0.0.1, port: 1}]}\n');
    assert.deepEqual(a.tasks.map((t) => t.id).sort(), b.tasks.map((t) => t.id).sort());
  });

  it('weight 0 drains (state killing); a framework names the second DNS label', () => {
    const r = ok('vips:\n- name: k:9092\n  framework: kafka\n  backends: [{ip: "fd00::1", port: 9092, weight: 0}]\n');
    assert.equal(r.tasks[0]?.state, 'killing');
    assert.equal(r.tasks[0]?.framework, 'kafka');
    assert.deepEqual(r.tasks[0]?.taskIps, ['fd00::1']);
  });
});

describe('VIP file: errors name the line and the entry', () => {
  it('reports every bad entry with its line and path', () => {
    const text = [
      'vips:',                  // 1
      '  - name: /a:80',        // 2
      '    backends:',          // 3
      '      - ip: 10.0.0.1',   // 4
      '        port: http',     // 5
      '  - ip: myapp:80',       // 6
      '    backends: []',       // 7
      '  # a comment',          // 8
      '  - name: /b:80',        // 9
      '    protocl: tcp',       // 10
    ].join('\n');
    assert.deepEqual(problems(text), [
      '4 vips[0].backends[0].port: must be an integer 1-65535, got "http"',
      '6 vips[1].ip: myapp:80 is not <address>:<port> (for a name use `name`)',
      '9 vips[2]: unknown key "protocl" (allowed: name, ip, protocol, framework, scheduler, backends)',
    ]);
  });

  it('reports a syntax error with its line', () => {
    const r = parseVipFile('vips:\n  - name: a:1\n   backends: [\n', 'vips.yaml', 'file');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.kind, 'syntax');
    assert.ok((r.problems[0]?.line ?? 0) >= 2);
    assert.equal(parseVipFile('{"vips": [}', 'vips.json', 'file').ok, false);
  });

  const cases: Array<[string, string, string]> = [
    ['a list at the top', '- a\n', '1 : the file must be a mapping with a `vips` list'],
    ['an unknown top-level key', 'vip: []\n', '1 : unknown key "vip" (allowed: version, vips)'],
    ['a version other than 1', 'version: 2\nvips: []\n', '1 version: only version 1 exists'],
    ['vips that is not a list', 'vips: {}\n', '1 vips: must be a list'],
    ['an entry that is not a mapping', 'vips:\n  - x\n', '2 vips[0]: must be a mapping with `name` or `ip`, and `backends`'],
    ['both name and ip', 'vips:\n  - {name: a:1, ip: 1.2.3.4:1}\n', '2 vips[0]: needs exactly one of `name` and `ip`'],
    ['neither name nor ip', 'vips:\n  - {backends: []}\n', '2 vips[0]: needs exactly one of `name` and `ip`'],
    ['a name that is not a string', 'vips:\n  - {name: 80}\n', '2 vips[0].name: must be a string like /myapp:80'],
    ['a name without port', 'vips:\n  - {name: myapp}\n', '2 vips[0].name: "myapp" has no ":<port>"'],
    ['a port 0 in the label', 'vips:\n  - {name: "a:0"}\n', '2 vips[0].name: port 0 must be greater than 0'],
    ['an address given as name', 'vips:\n  - {name: "1.2.3.4:80"}\n', '2 vips[0].name: 1.2.3.4:80 is an address: use `ip`'],
    ['an unknown protocol', 'vips:\n  - {name: a:1, protocol: sctp}\n', '2 vips[0].protocol: must be tcp, udp or "udp,tcp"'],
    ['a scheduler that is not a string', 'vips:\n  - {name: a:1, scheduler: 5}\n', '2 vips[0].scheduler: must be a string naming an IPVS scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos)'],
    ['an empty framework', 'vips:\n  - {name: a:1, framework: ""}\n', '2 vips[0].framework: must be a non-empty string'],
    ['backends that is not a list', 'vips:\n  - {name: a:1, backends: 5}\n', '2 vips[0].backends: must be a list of {ip, port}'],
    ['a backend that is not a mapping', 'vips:\n  - name: a:1\n    backends: [5]\n', '3 vips[0].backends[0]: must be a mapping {ip, port, weight?}'],
    ['a bad backend IP', 'vips:\n  - name: a:1\n    backends: [{ip: 10.0.0.256, port: 1}]\n', '3 vips[0].backends[0].ip: must be an IPv4 or IPv6 address, got "10.0.0.256"'],
    ['a port above 65535', 'vips:\n  - name: a:1\n    backends: [{ip: 10.0.0.1, port: 65536}]\n', '3 vips[0].backends[0].port: must be an integer 1-65535, got 65536'],
    ['a fractional port', 'vips:\n  - name: a:1\n    backends: [{ip: 10.0.0.1, port: 1.5}]\n', '3 vips[0].backends[0].port: must be an integer 1-65535, got 1.5'],
    ['a port as a string', 'vips:\n  - name: a:1\n    backends: [{ip: 10.0.0.1, port: "80"}]\n', '3 vips[0].backends[0].port: must be an integer 1-65535, got "80"'],
    ['a weight of 2', 'vips:\n  - name: a:1\n    backends: [{ip: 10.0.0.1, port: 1, weight: 2}]\n', '3 vips[0].backends[0].weight: must be 1 (serving) or 0 (draining), got 2'],
    ['an unknown backend key', 'vips:\n  - name: a:1\n    backends: [{ip: 10.0.0.1, port: 1, host: x}]\n', '3 vips[0].backends[0]: unknown key "host" (allowed: ip, port, weight)'],
    ['a duplicate backend', 'vips:\n  - name: a:1\n    backends: [{ip: 10.0.0.1, port: 1}, {ip: 10.0.0.1, port: 1}]\n', '3 vips[0].backends[1]: duplicate backend 10.0.0.1:1'],
    ['a duplicate VIP', 'vips:\n  - {name: a:1}\n  - {name: a:1}\n', '3 vips[1]: the same VIP as vips[0]'],
    ['an IPv6 backend on an IPv4 IP VIP', 'vips:\n  - ip: 1.2.3.4:80\n    backends: [{ip: "fd00::1", port: 80}]\n', '3 vips[0].backends[0].ip: fd00::1 is not IPv4 like the VIP 1.2.3.4:80'],
  ];
  for (const [what, text, expected] of cases) {
    it(`rejects ${what}`, () => assert.deepEqual(problems(text), [expected]));
  }

  it('stops listing after 20 problems', () => {
    const text = `vips:\n${Array.from({ length: 30 }, (_, i) => `  - {name: a${i}}`).join('\n')}\n`;
    assert.equal(problems(text).length, 20);
  });
});

describe('VIP file: scheduler', () => {
  const text = (scheduler: string) => [
    'vips:',
    '  - name: /a:80',
    `    scheduler: ${scheduler}`,
    '    backends: [{ip: 10.0.0.1, port: 8080}, {ip: 10.0.0.2, port: 8080}]',
    '  - name: /b:80',
    '    backends: [{ip: 10.0.0.3, port: 8080}]',
  ].join('\n');
  const table = (tasks: Parameters<VipTable['replaceSource']>[1]) => {
    const t = new VipTable();
    t.replaceSource('file', tasks);
    return t;
  };

  it('every backend of the entry names it; the VIP gets it, the other VIP none', () => {
    const r = ok(text('sh'));
    assert.deepEqual(r.tasks.map((t) => t.scheduler), ['sh', 'sh', undefined]);
    assert.equal('scheduler' in (r.tasks[2] as object), false);
    const vips = table(r.tasks).vips();
    assert.deepEqual(vips.map((v) => [v.names[0]?.split('.')[0], v.scheduler]).sort(), [['a', 'sh'], ['b', undefined]]);
  });

  it('a string that names no IPVS scheduler is VIP_BAD_SCHEDULER, not a file error: the VIP serves with the default', () => {
    const r = ok(text('fastest'));
    assert.deepEqual(r.tasks.map((t) => t.scheduler), [undefined, undefined, undefined]);
    const t = table(r.tasks);
    assert.equal(t.vips().length, 2);
    assert.ok(t.vips().every((v) => v.scheduler === undefined));
    assert.deepEqual(t.rejected().map((x) => [x.key, x.value, x.code]), [
      ['vips[0].scheduler', 'fastest', 'VIP_BAD_SCHEDULER'],
      ['vips[0].scheduler', 'fastest', 'VIP_BAD_SCHEDULER'],
    ]);
  });
});
