// Structured logs with winston: JSON lines by default (what log shippers and
// `jq` read), human text on a terminal. Every line has a `component`.

import winston from 'winston';

export type Logger = winston.Logger;
export type LogFormat = 'json' | 'text' | 'auto';
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; default stderr (stdout stays for command output). */
  stream?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const tty = (stream as NodeJS.WriteStream).isTTY === true;
  const fmt = opts.format === 'auto' || opts.format === undefined ? (tty ? 'text' : 'json') : opts.format;
  const format =
    fmt === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.printf((info) => {
            const { timestamp, level, message, component, ...rest } = info as Record<string, unknown>;
            const extra = Object.entries(rest)
              .filter(([k]) => typeof k === 'string')
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${String(timestamp)} ${String(level).toUpperCase().padEnd(5)} ${component ? `[${String(component)}] ` : ''}${String(message)}${extra ? ` ${extra}` : ''}`;
          }),
        );
  // winston formats a line before its transport drops it by level: drop it
  // first, or every debug call pays for a timestamp and a JSON text (10,000
  // VIP address adds cost ~0.3 s of formatted-then-dropped lines in a first sync).
  const enabled = winston.format((info) => (logger.isLevelEnabled(info.level) ? info : false));
  const logger: Logger = winston.createLogger({
    level: opts.level ?? 'info',
    format: winston.format.combine(enabled(), format),
    transports: [new winston.transports.Stream({ stream })],
  });
  // And a call at a disabled level returns before winston builds its info object and
  // writes it into its stream (~15 us a call under user-mode Linux: 10,000 address adds
  // logged at debug cost 0.15 s of a first sync). Checked per call: the level may change.
  // Unbound: child loggers inherit these and must log through their own `write` (their fields).
  for (const level of LOG_LEVELS) {
    const write = logger[level];
    logger[level] = function (this: Logger, ...args: Parameters<winston.LeveledLogMethod>) {
      return this.isLevelEnabled(level) ? write.apply(this, args) : this;
    } as winston.LeveledLogMethod;
  }
  return logger;
}

/** A logger that drops everything (tests, `l4lb plan`). */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
