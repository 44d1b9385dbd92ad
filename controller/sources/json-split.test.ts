import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonSplitError, parseWithSplit, type SplitRule } from './json-split.js';

/** parseWithSplit with every rule collecting its parsed elements. */
function split(text: string, paths: string[][], skip: string[][] = []): { skeleton: unknown; parts: unknown[][] } {
  const parts: unknown[][] = paths.map(() => []);
  const rules: SplitRule[] = [
    ...paths.map((path, k) => ({ path, each: (b: Buffer, s: number, e: number) => void parts[k]!.push(JSON.parse(b.toString('utf8', s, e))) })),
    ...skip.map((path) => ({ path })),
  ];
  return { skeleton: parseWithSplit(Buffer.from(text, 'utf8'), rules), parts };
}

/** What JSON.parse gives, with the arrays at `paths` taken out (and emptied). */
function reference(text: string, paths: string[][]): { skeleton: unknown; parts: unknown[][] } {
  const value = JSON.parse(text) as unknown;
  const parts = paths.map((path) => {
    let o: unknown = value;
    for (const k of path.slice(0, -1)) o = o !== null && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>)[k] : undefined;
    const holder = o !== null && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
    const last = path[path.length - 1]!;
    const arr = path.length === 0 ? value : holder?.[last];
    if (!Array.isArray(arr)) return [];
    const items = [...arr];
    arr.length = 0;
    return items;
  });
  return { skeleton: value, parts };
}

const TASKS = ['subscribed', 'get_state', 'get_tasks', 'tasks'];

describe('parseWithSplit', () => {
  it('takes a nested array out element by element and parses the rest', () => {
    const doc = {
      type: 'SUBSCRIBED',
      subscribed: {
        get_state: {
          get_tasks: { tasks: [{ id: 'a', s: 'x"],{' }, { id: 'b', n: [1, 2, { d: [] }] }, 'str', 3, null], completed_tasks: [{ id: 'c' }] },
          get_agents: { agents: [{ agent_info: { hostname: 'h' } }] },
        },
        heartbeat_interval_seconds: 15,
      },
    };
    const text = JSON.stringify(doc, null, 1);
    const got = split(text, [TASKS], [['subscribed', 'get_state', 'get_tasks', 'completed_tasks']]);
    assert.deepEqual(got.parts[0], doc.subscribed.get_state.get_tasks.tasks);
    assert.deepEqual(got.skeleton, {
      ...doc,
      subscribed: { ...doc.subscribed, get_state: { ...doc.subscribed.get_state, get_tasks: { tasks: [], completed_tasks: [] } } },
    });
  });

  it('matches JSON.parse on random documents, whatever the whitespace, escapes and nesting', () => {
    let seed = 11;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const strs = ['', 'a', 'é', '"', '\\', '\\"', '"]}', '\n', 'tasks', '\u2028', '😀'];
    const gen = (d: number): unknown => {
      const k = rnd(d > 3 ? 4 : 7);
      if (k === 0) return rnd(1000) - 500 + (rnd(2) ? 0.5 : 0);
      if (k === 1) return strs[rnd(strs.length)];
      if (k === 2) return [null, true, false][rnd(3)];
      if (k === 3) return rnd(3) === 0 ? [] : {};
      if (k === 4) return Array.from({ length: rnd(4) }, () => gen(d + 1));
      const o: Record<string, unknown> = {};
      for (const key of ['a', 'tasks', 'b', 'get_tasks'].slice(0, 1 + rnd(4))) o[key] = gen(d + 1);
      return o;
    };
    const paths = [['tasks'], ['a', 'tasks'], ['get_tasks', 'b']];
    for (let n = 0; n < 500; n++) {
      const doc = { a: gen(1), tasks: gen(1), get_tasks: { b: gen(2), tasks: gen(2) } };
      const text = JSON.stringify(doc, null, rnd(3)).replace(/,/g, () => (rnd(4) === 0 ? ' ,\n ' : ','));
      assert.deepEqual(split(text, paths), reference(text, paths), text);
    }
  });

  it('splits a root array, and leaves a non-array at a rule path in the skeleton', () => {
    assert.deepEqual(split(' [1, {"a":[2]} ,"x"] ', [[]]), { skeleton: [], parts: [[1, { a: [2] }, 'x']] });
    assert.deepEqual(split('{"tasks":{"x":1}}', [['tasks']]), { skeleton: { tasks: { x: 1 } }, parts: [[]] });
    assert.deepEqual(split('{"tasks":[]}', [['tasks']]), { skeleton: { tasks: [] }, parts: [[]] });
    // An escaped key is not matched: its array stays in the skeleton, still parsed.
    assert.deepEqual(split('{"t\\u0061sks":[1]}', [['tasks']]), { skeleton: { tasks: [1] }, parts: [[]] });
  });

  it('throws on bad input wherever JSON.parse throws (all elements parsed)', () => {
    const good = JSON.stringify({ x: 1, tasks: [{ a: [1, 'b'] }, 2, 'c'], get_tasks: { b: [true] } });
    const paths = [['tasks'], ['get_tasks', 'b']];
    const bytes = ['', ',', ']', '}', '[', '{', '"', ':', 'x', ' ', '\\'];
    let checked = 0;
    for (let i = 0; i <= good.length; i++) {
      for (const b of bytes) {
        for (const text of [good.slice(0, i) + b + good.slice(i), good.slice(0, i) + b + good.slice(i + 1)]) {
          let want: string | undefined;
          try {
            JSON.parse(text);
          } catch (e) {
            want = (e as Error).message;
          }
          if (want === undefined) {
            assert.deepEqual(split(text, paths), reference(text, paths), text);
          } else {
            assert.throws(() => split(text, paths), SyntaxError, `no error for ${text}`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 500, `${checked} bad documents`);
  });

  it('names the offset of a structural error', () => {
    const err = (text: string) => {
      try {
        split(text, [['tasks']]);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const e1 = err('{"tasks":[{"a":1]]}');
    assert.ok(e1 instanceof JsonSplitError);
    assert.equal(e1.offset, 16);
    assert.match(e1.message, /unbalanced "\]" at byte 16/);
    const e2 = err('{"tasks":[1,2 3]}');
    assert.ok(e2 instanceof JsonSplitError);
    assert.match(e2.message, /expected "," or "\]", found "3" at byte 14/);
    assert.match(String((err('{"tasks":[1, "ab') as Error).message), /unterminated string at byte 13/);
    assert.match(String((err('{"tasks":[1]} x') as Error).message), /unexpected bytes after the JSON value at byte 14/);
  });

  it('a skipped array is never parsed: elements are not handed to anyone', () => {
    const text = JSON.stringify({ tasks: [1], completed_tasks: [{ big: 'x'.repeat(1000) }, [1, [2]]] });
    assert.deepEqual(split(text, [['tasks']], [['completed_tasks']]), { skeleton: { tasks: [], completed_tasks: [] }, parts: [[1]] });
  });
});
