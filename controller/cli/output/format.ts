// Output format selection shared by every verb (`-o table|json|...`).

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseOutput<T extends string>(value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`unknown output format ${JSON.stringify(value)}; use one of: ${allowed.join(', ')}`);
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
