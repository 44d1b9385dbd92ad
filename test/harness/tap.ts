// Reading the TAP that `node --test --test-reporter=tap` prints (Node 20).
// The runner ends with top-level comment lines `# tests N`, `# pass N`,
// `# fail N`, `# cancelled N`, `# skipped N`, `# todo N`; failures are
// `not ok` lines (indented 4 spaces per nesting level) followed by a YAML
// block (`---` ... `...`) holding the error, the expected/actual values and
// the stack.

export interface TapCounts {
  tests: number;
  pass: number;
  fail: number;
  cancelled: number;
  skipped: number;
  todo: number;
}

/** The runner's final counts, or undefined when the output has none (crash, timeout). */
export function parseTapSummary(text: string): TapCounts | undefined {
  const get = (key: string): number | undefined => {
    const all = [...text.matchAll(new RegExp(`^# ${key} (\\d+)\\s*$`, 'gm'))];
    const last = all[all.length - 1];
    return last ? Number(last[1]) : undefined;
  };
  const tests = get('tests');
  if (tests === undefined) return undefined;
  return { tests, pass: get('pass') ?? 0, fail: get('fail') ?? 0, cancelled: get('cancelled') ?? 0, skipped: get('skipped') ?? 0, todo: get('todo') ?? 0 };
}

/**
 * Each failing test with its YAML diagnostics, in full (TODO/SKIP excluded). A parent that failed
 * only because a subtest did ("subtestsFailed") is left out: its failing
 * subtests are already listed.
 */
export function tapFailures(text: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+/.exec(lines[i]!);
    // `not ok ... # TODO` / `# SKIP` are not failures.
    if (!m || /#\s*(TODO|SKIP)\b/i.test(lines[i]!)) continue;
    const indent = m[1]!;
    const block = [lines[i]!];
    let j = i + 1;
    if (lines[j]?.startsWith(`${indent}  ---`)) {
      for (; j < lines.length; j++) {
        block.push(lines[j]!);
        if (lines[j] === `${indent}  ...`) break;
      }
    }
    if (!block.some((l) => /failureType: 'subtestsFailed'/.test(l))) {
      out.push(block.map((l) => l.slice(Math.min(indent.length, l.length - l.trimStart().length))).join('\n'));
    }
  }
  return out;
}

/**
 * Counts from the top-level `ok` / `not ok` lines seen so far: for output cut
 * short (timeout, crash) where the runner never printed its summary.
 */
export function countTopLevel(text: string): TapCounts {
  const c: TapCounts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  for (const line of text.split('\n')) {
    const m = /^(not )?ok \d+\b.*?(?:#\s*(SKIP|TODO)\b)?\s*$/i.exec(line);
    if (!m) continue;
    c.tests++;
    if (m[2]?.toUpperCase() === 'SKIP') c.skipped++;
    else if (m[2]?.toUpperCase() === 'TODO') c.todo++;
    else if (m[1]) c.fail++;
    else c.pass++;
  }
  return c;
}
