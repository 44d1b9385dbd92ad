// `l4lb run`: the daemon. Every setting is a flag, an environment variable
// and a config-file key (controller/config/schema.ts); flags win over the
// environment, which wins over the file.

import { Command, Option } from 'commander';
import { loadConfig, SETTINGS, flagName, envName, ConfigError, formatDuration, type Setting } from '../config/index.js';
import { createLogger } from '../log.js';
import { Daemon } from '../daemon/daemon.js';
import { UsageError } from './output/format.js';

function describe(s: Setting): string {
  // Durations are held in ms but written as the config takes them (`5m`, `30s`), as in the README's table.
  const d = s.defaultDoc ?? (s.default === undefined ? '' : Array.isArray(s.default) ? (s.default as string[]).join(',')
    : s.type.kind === 'duration' && typeof s.default === 'number' ? formatDuration(s.default) : String(s.default));
  return `${s.doc} [env ${envName(s)}${d !== '' ? `; default ${d}` : ''}]`;
}

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description('run the l4lb daemon on this node (needs CAP_NET_ADMIN): watch the sources, program IPVS, serve DNS')
    .option('-c, --config <file>', 'YAML or JSON config file [env L4LB_CONFIG]');
  for (const s of SETTINGS) {
    const o = new Option(`--${flagName(s)} <${s.type.kind === 'list' ? 'value' : s.type.kind}>`, describe(s));
    // Lists repeat (--mesos A --mesos B) or take commas; everything else is a single string, validated by the loader.
    if (s.type.kind === 'list') o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(o);
  }
  cmd.action(async (opts: Record<string, unknown>) => {
    const flags: Record<string, string | undefined> = {};
    for (const s of SETTINGS) {
      const v = opts[new Option(`--${flagName(s)} <x>`).attributeName()];
      if (v !== undefined) flags[s.key] = Array.isArray(v) ? v.join(',') : String(v);
    }
    let cfg;
    try {
      const file = (opts['config'] as string | undefined) ?? process.env.L4LB_CONFIG;
      cfg = loadConfig({ ...(file ? { file } : {}), env: process.env, flags });
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
    const log = createLogger({ level: cfg.log.level, format: cfg.log.format });
    const daemon = new Daemon(cfg, log);
    const stopped = new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info('stopping; the kernel keeps forwarding as it is', { component: 'daemon', signal });
        void daemon.stop().then(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    log.info('l4lb starting', { component: 'daemon', config: cfg.configFile ?? '(none)', pid: process.pid });
    await daemon.start();
    await stopped;
    log.info('stopped', { component: 'daemon' });
  });
}
