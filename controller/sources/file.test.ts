import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeTimers } from './fake-timers.js';
import { FileSource, formatProblem } from './file.js';
import { captureLogger, RecordingSink, settle, waitFor } from './test-helpers.js';

const dirs: string[] = [];
const sources: FileSource[] = [];
after(async () => {
  for (const s of sources) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const vipFile = (...backends: string[]) =>
  `vips:\n  - name: /myapp:80\n    backends:\n${backends.map((ip) => `      - { ip: ${ip}, port: 8080 }\n`).join('')}`;

function setup(initial: string | undefined, over: { timers?: FakeTimers; pollMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'l4lb-file-'));
  dirs.push(dir);
  const path = join(dir, 'vips.yaml');
  if (initial !== undefined) writeFileSync(path, initial);
  const { logger, lines } = captureLogger();
  const source = new FileSource({ path, debounceMs: 10, pollMs: over.pollMs ?? 0, ...(over.timers !== undefined && { timers: over.timers }) }, logger);
  sources.push(source);
  const sink = new RecordingSink();
  source.start(sink);
  return { dir, path, source, sink, lines };
}

const backends = (sink: RecordingSink) => [...sink.tasks.values()].map((t) => t.taskIps[0]).sort();

describe('file source', () => {
  it('loads the file at start and replaces the view with its backends', async () => {
    const { path, source, sink } = setup(vipFile('10.0.0.1', '10.0.0.2'));
    await waitFor(() => sink.state === 'synced', 'synced');
    assert.deepEqual(backends(sink), ['10.0.0.1', '10.0.0.2']);
    const st = source.status();
    assert.equal(st.id, `file:${path}`);
    assert.equal(st.kind, 'file');
    assert.equal(st.endpoint, path);
    assert.equal(st.tasks, 2);
    assert.equal(sink.calls.find((c) => c.op === 'replace')?.op, 'replace');
  });

  it('sees an edit in place', async () => {
    const { path, sink } = setup(vipFile('10.0.0.1'));
    await waitFor(() => sink.state === 'synced', 'synced');
    writeFileSync(path, vipFile('10.0.0.1', '10.0.0.3'));
    await waitFor(() => backends(sink).length === 2, 'the edit');
    assert.deepEqual(backends(sink), ['10.0.0.1', '10.0.0.3']);
  });

  it('sees an editor\'s write-then-rename over the file', async () => {
    const { dir, path, sink } = setup(vipFile('10.0.0.1'));
    await waitFor(() => sink.state === 'synced', 'synced');
    writeFileSync(join(dir, '.vips.yaml.swp'), vipFile('10.0.0.9'));
    renameSync(join(dir, '.vips.yaml.swp'), path);
    await waitFor(() => backends(sink)[0] === '10.0.0.9', 'the renamed file');
    writeFileSync(join(dir, 'vips.yaml.tmp'), vipFile('10.0.0.8'));
    renameSync(join(dir, 'vips.yaml.tmp'), path);
    await waitFor(() => backends(sink)[0] === '10.0.0.8', 'a second rename');
  });

  it('keeps the last good content on a bad edit, says where the error is, and recovers on a fix', async () => {
    const { path, sink, lines } = setup(vipFile('10.0.0.1'));
    await waitFor(() => sink.state === 'synced', 'synced');
    const replaces = sink.count('replace');
    writeFileSync(path, 'vips:\n  - name: /myapp:80\n    backends:\n      - { ip: 10.0.0.300, port: 8080 }\n');
    await waitFor(() => sink.state === 'stale', 'stale');
    assert.equal(sink.last?.lastError, 'vips.yaml:4: vips[0].backends[0].ip: must be an IPv4 or IPv6 address, got "10.0.0.300"');
    assert.deepEqual(backends(sink), ['10.0.0.1'], 'the last good view is kept');
    assert.equal(sink.count('replace'), replaces);
    const warn = lines.find((l) => l['message'] === 'keeping the last good file content');
    assert.equal(warn?.['code'], 'SRC_FILE_INVALID');
    writeFileSync(path, 'vips: [\n');
    await waitFor(() => /vips\.yaml:\d+: /.test(sink.last?.lastError ?? '') && sink.last?.lastError?.includes('10.0.0.300') === false, 'syntax error');
    assert.ok(lines.some((l) => l['code'] === 'SRC_FILE_SYNTAX'));
    writeFileSync(path, vipFile('10.0.0.4'));
    await waitFor(() => sink.state === 'synced', 'fixed');
    assert.deepEqual(backends(sink), ['10.0.0.4']);
    assert.equal(sink.last?.lastError, undefined);
  });

  it('does not resend a file rewritten with the same content', async () => {
    const { dir, path, source, sink } = setup(vipFile('10.0.0.1'));
    await waitFor(() => sink.state === 'synced', 'synced');
    writeFileSync(path, vipFile('10.0.0.1'));
    writeFileSync(join(dir, 'other.txt'), 'x'); // any event in the directory
    await source.reloadNow();
    assert.equal(sink.count('replace'), 1);
    writeFileSync(path, vipFile('10.0.0.2'));
    await waitFor(() => backends(sink)[0] === '10.0.0.2', 'the real change');
    assert.equal(sink.count('replace'), 2);
  });

  it('waits for a missing file, and keeps the view when it is deleted until it is back', async () => {
    const { path, sink } = setup(undefined);
    await waitFor(() => sink.last?.lastError?.includes('ENOENT') === true, 'missing file reported');
    assert.equal(sink.state, 'connecting');
    writeFileSync(path, vipFile('10.0.0.1'));
    await waitFor(() => sink.state === 'synced', 'created');
    rmSync(path);
    await waitFor(() => sink.state === 'stale', 'deleted');
    assert.deepEqual(backends(sink), ['10.0.0.1']);
    writeFileSync(path, vipFile('10.0.0.1'));
    await waitFor(() => sink.state === 'synced', 'back');
  });

  it('polls for changes fs.watch did not report', async () => {
    const clock = new FakeTimers();
    const { path, sink } = setup(vipFile('10.0.0.1'), { timers: clock, pollMs: 10_000 });
    await waitFor(() => sink.state === 'synced', 'synced');
    writeFileSync(path, vipFile('10.0.0.5'));
    await settle();
    assert.deepEqual(backends(sink), ['10.0.0.1'], 'the debounce runs on the fake clock: nothing yet');
    clock.advance(10_000);
    await waitFor(() => backends(sink)[0] === '10.0.0.5', 'the poll');
  });

  it('stop() reports stopped and ignores later edits', async () => {
    const { path, source, sink } = setup(vipFile('10.0.0.1'));
    await waitFor(() => sink.state === 'synced', 'synced');
    await source.stop();
    assert.equal(sink.state, 'stopped');
    writeFileSync(path, vipFile('10.0.0.7'));
    await settle(100);
    assert.deepEqual(backends(sink), ['10.0.0.1']);
  });

  it('formats a problem as file:line: path: message', () => {
    assert.equal(formatProblem('v.yaml', { line: 3, path: 'vips[0]', message: 'bad' }), 'v.yaml:3: vips[0]: bad');
    assert.equal(formatProblem('v.yaml', { path: '', message: 'bad' }), 'v.yaml: bad');
  });
});
