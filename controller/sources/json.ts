// Typed reads of untrusted JSON (Mesos, Marathon, VIP files) without `any`.
// Same shape as controller/model/json.ts, which the model does not export.

export type JsonObject = { readonly [key: string]: unknown };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follow a path of object keys; undefined as soon as a step is missing. */
export function at(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const key of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

export function str(v: unknown, ...path: string[]): string | undefined {
  const x = at(v, ...path);
  return typeof x === 'string' ? x : undefined;
}

export function num(v: unknown, ...path: string[]): number | undefined {
  const x = at(v, ...path);
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

export function arr(v: unknown, ...path: string[]): readonly unknown[] {
  const x = at(v, ...path);
  return Array.isArray(x) ? x : [];
}

export function obj(v: unknown, ...path: string[]): JsonObject | undefined {
  const x = at(v, ...path);
  return isObject(x) ? x : undefined;
}

/** JSON.parse that returns a result instead of throwing. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}
