// Typed reads of untrusted JSON: the model's helpers, plus parsing with a message.
export { isObject, at, str, num, arr, obj, type JsonObject } from '../model/index.js';

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}
