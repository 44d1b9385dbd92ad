// The l4lb command line: verbs and nouns in kubectl's manner.
// Errors go to stderr as one line; exit 0 = success, 1 = the operation failed,
// 2 = the command line was wrong.

import { Command, CommanderError, Option } from 'commander';
import { IpvsHandle } from '../../native/ipvs/index.js';
import { readIpvs, renderIpvsTable } from './ipvs.js';
import { parseOutput, toJson, UsageError } from './output/format.js';
import { versionInfo } from './version.js';
import { registerPlan } from './plan.js';
import { registerRun } from './run.js';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function outputOption(formats: readonly string[], dflt: string): Option {
  return new Option('-o, --output <format>', `output format: ${formats.join('|')}`).default(dflt);
}

export function buildProgram(out: (s: string) => void): Command {
  const program = new Command('l4lb')
    .description('Named virtual IPs for Mesos/Marathon and Kubernetes, load-balanced by the kernel\'s IPVS')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('version')
    .description('print the l4lb version')
    .addOption(outputOption(['text', 'json'], 'text'))
    .action((opts: { output: string }) => {
      const fmt = parseOutput(opts.output, ['text', 'json'] as const);
      const v = versionInfo();
      out(fmt === 'json' ? toJson(v) : `l4lb ${v.version} (node ${v.node}, ${v.platform})\n`);
    });

  const ipvs = program.command('ipvs').description('read the kernel\'s IPVS table directly (needs CAP_NET_ADMIN)');
  ipvs
    .command('list')
    .alias('ls')
    .description('list IPVS services with their destinations and counters (like `ipvsadm -Ln --stats`)')
    .addOption(outputOption(['table', 'json'], 'table'))
    .action((opts: { output: string }) => {
      const fmt = parseOutput(opts.output, ['table', 'json'] as const);
      const h = IpvsHandle.open();
      try {
        const snap = readIpvs(h);
        out(fmt === 'json' ? toJson(snap) : renderIpvsTable(snap));
      } finally {
        h.close();
      }
    });

  registerPlan(program, out);
  registerRun(program);

  for (const c of [program, ...program.commands, ...ipvs.commands]) c.exitOverride();
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, for tests. */
export async function run(argv: readonly string[], io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) }): Promise<number> {
  const program = buildProgram(io.out);
  program.configureOutput({ writeOut: io.out, writeErr: io.err });
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version requests exit 0; commander has already printed its message.
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      io.err(`l4lb: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const err = e as Error & { code?: string };
    io.err(`l4lb: ${err.message}\n`);
    if (process.env.L4LB_DEBUG) io.err(`${err.stack}\n`);
    return EXIT_FAILURE;
  }
}
