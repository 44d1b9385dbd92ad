// Parses one big JSON document with chosen arrays taken out of it, element by
// element. A Mesos SUBSCRIBED record is the whole cluster (11 MB for 10,000
// tasks). JSON.parse on it builds every task's object tree at once: the
// trees outlive a young-generation collection, get copied to the old
// generation and cost a full mark-compact to free. Parsing task by task lets
// each tree die young, and never turns the 11 MB of bytes into one string.
//
// The scanner walks the bytes only along the rules' paths (a few keys) and
// skips everything else by bracket matching, jumping from quote to quote
// inside strings (Buffer.indexOf, native). What it cuts out is handed over as
// byte ranges; the rest, with `[]` in place of each cut array, goes to
// JSON.parse. Pure: bytes in, values out.
//
// Equivalence with JSON.parse, when every `each` parses its element: every
// byte is checked by someone (the skeleton by JSON.parse, each element by its
// consumer, the separators between elements here), so the result is the same
// and bad input throws. Two documented differences: a rule's key is matched
// as raw bytes, so a key written with escapes is not cut (its array stays in
// the skeleton: still correct, just not streamed); and a key on a rule's path
// given twice in one object is cut both times (JSON.parse keeps the last).
// The contents of a skipped array (no `each`) are only checked for balanced
// brackets and terminated strings.

/** An array to take out of the document, by the object keys leading to it. */
export interface SplitRule {
  path: readonly string[];
  /** Called with each element's bytes [start, end), in order. Absent: the elements are skipped unparsed. */
  each?: (buf: Buffer, start: number, end: number, index: number) => void;
}

/** Bad JSON structure found by the scanner, with the byte offset. */
export class JsonSplitError extends SyntaxError {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'JsonSplitError';
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * JSON.parse(buf) with every rule's array replaced by `[]`; each element of
 * such an array is passed to the rule's `each` (before this returns), or
 * skipped. Throws JsonSplitError or SyntaxError on bad input, and whatever an
 * `each` throws.
 */
export function parseWithSplit(buf: Buffer, rules: readonly SplitRule[]): unknown {
  const s = new Scanner(buf);
  const end = s.ws(s.walk(s.ws(0), rules, 0));
  if (end < buf.length) throw new JsonSplitError('unexpected bytes after the JSON value', end);
  if (s.cuts.length === 0) return JSON.parse(buf.toString('utf8'));
  let text = '';
  let from = 0;
  for (const [a, b] of s.cuts) {
    text += buf.toString('utf8', from, a);
    from = b;
  }
  text += buf.toString('utf8', from);
  return JSON.parse(text);
}

class Scanner {
  /** Byte ranges cut out (the inside of each split array), in order. */
  readonly cuts: Array<[number, number]> = [];
  private readonly stack: number[] = [];

  constructor(private readonly buf: Buffer) {}

  ws(i: number): number {
    const b = this.buf;
    while (i < b.length) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    return i;
  }

  /** The value at i (no whitespace before it), following the rules that reach this depth; returns its end. */
  walk(i: number, rules: readonly SplitRule[], depth: number): number {
    const c = this.buf[i];
    const here = rules.find((r) => r.path.length === depth);
    if (here !== undefined && c === OPEN_BRACKET) return this.split(i, here);
    const deeper = rules.filter((r) => r.path.length > depth);
    if (deeper.length === 0 || c !== OPEN_BRACE) return this.skipValue(i);
    let j = this.ws(i + 1);
    if (this.buf[j] === CLOSE_BRACE) return j + 1;
    for (;;) {
      if (this.buf[j] !== QUOTE) throw this.unexpected(j, 'an object key');
      const keyEnd = this.skipString(j);
      const key = this.buf.toString('latin1', j + 1, keyEnd - 1);
      j = this.ws(keyEnd);
      if (this.buf[j] !== COLON) throw this.unexpected(j, '":"');
      j = this.ws(j + 1);
      const sub = deeper.filter((r) => r.path[depth] === key);
      j = this.ws(sub.length > 0 ? this.walk(j, sub, depth + 1) : this.skipValue(j));
      const d = this.buf[j];
      if (d === CLOSE_BRACE) return j + 1;
      if (d !== COMMA) throw this.unexpected(j, '"," or "}"');
      j = this.ws(j + 1);
    }
  }

  /** A rule's array at i: elements to `each` (or skipped), its inside recorded as a cut; returns its end. */
  private split(i: number, rule: SplitRule): number {
    let j = this.ws(i + 1);
    if (this.buf[j] === CLOSE_BRACKET) return j + 1;
    for (let index = 0; ; index++) {
      const start = j;
      const end = this.skipValue(j);
      rule.each?.(this.buf, start, end, index);
      j = this.ws(end);
      const d = this.buf[j];
      if (d === CLOSE_BRACKET) {
        this.cuts.push([i + 1, j]);
        return j + 1;
      }
      if (d !== COMMA) throw this.unexpected(j, '"," or "]"');
      j = this.ws(j + 1);
    }
  }

  /** Any value at i; returns its end. */
  private skipValue(i: number): number {
    const b = this.buf;
    const c = b[i];
    if (c === QUOTE) return this.skipString(i);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) return this.skipContainer(i);
    // A number or a literal: up to the next delimiter (JSON.parse checks its spelling).
    let j = i;
    while (j < b.length) {
      const d = b[j]!;
      if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
      if (d === QUOTE || d === OPEN_BRACE || d === OPEN_BRACKET || d === COLON) break;
      j++;
    }
    if (j === i) throw this.unexpected(i, 'a value');
    return j;
  }

  private skipContainer(i: number): number {
    const b = this.buf;
    const stack = this.stack;
    stack.length = 0;
    let j = i;
    while (j < b.length) {
      const c = b[j]!;
      if (c === QUOTE) {
        j = this.skipString(j);
        continue;
      }
      if (c === OPEN_BRACE) stack.push(CLOSE_BRACE);
      else if (c === OPEN_BRACKET) stack.push(CLOSE_BRACKET);
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (stack.pop() !== c) throw new JsonSplitError(`unbalanced "${String.fromCharCode(c)}"`, j);
        if (stack.length === 0) return j + 1;
      }
      j++;
    }
    throw new JsonSplitError('unterminated object or array', i);
  }

  private skipString(i: number): number {
    const b = this.buf;
    let j = i + 1;
    for (;;) {
      const q = b.indexOf(QUOTE, j);
      if (q < 0) throw new JsonSplitError('unterminated string', i);
      let k = q - 1;
      while (b[k] === BACKSLASH) k--;
      if ((q - 1 - k) % 2 === 0) return q + 1;
      j = q + 1;
    }
  }

  private unexpected(i: number, want: string): JsonSplitError {
    return new JsonSplitError(i >= this.buf.length ? `unexpected end of JSON, expected ${want}` : `expected ${want}, found "${String.fromCharCode(this.buf[i]!)}"`, i);
  }
}
