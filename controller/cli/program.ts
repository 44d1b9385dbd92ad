// The l4lb command line: verbs and nouns in kubectl's manner.
// Errors go to stderr as one line; exit 0 = success, 1 = the operation failed
// (or the VIP was not found), 2 = the command line was wrong, 3 = the daemon's
// status API could not be reached.

import { Command, CommanderError, Option } from 'commander';
import { IpvsHandle } from '../../native/ipvs/index.js';
import { readIpvs, renderIpvsTable } from './ipvs.js';
import { parseOutput, toJson, UsageError } from './output/format.js';
import { versionInfo } from './version.js';
import { registerPlan } from './plan.js';
import { registerRun } from './run.js';
import { registerOperator, type OperatorIo } from './operator.js';
import { DaemonUnreachableError } from './client.js';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

const EXIT_HELP = `
Exit codes:
  0  success
  1  the operation failed (e.g. no such VIP, the kernel refused)
  2  the command line was wrong
  3  the l4lb daemon could not be reached (get, describe, endpoints, status)
`;

const realIo: Omit<OperatorIo, 'out'> = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap(allCommands)];
}

function outputOption(formats: readonly string[], dflt: string): Option {
  return new Option('-o, --output <format>', `output format: ${formats.join('|')}`).default(dflt);
}

export function buildProgram(out: (s: string) => void, io: Omit<OperatorIo, 'out'> = realIo): Command {
  const program = new Command('l4lb')
    .description('Named virtual IPs for Mesos/Marathon and Kubernetes, load-balanced by the kernel\'s IPVS')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_HELP)
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
  registerOperator(program, { out, ...io });

  for (const c of allCommands(program)) c.exitOverride();
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, for tests. */
export async function run(
  argv: readonly string[],
  io: { out: (s: string) => void; err: (s: string) => void } & Partial<Omit<OperatorIo, 'out'>> = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) },
): Promise<number> {
  const program = buildProgram(io.out, { now: io.now ?? realIo.now, sleep: io.sleep ?? realIo.sleep });
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
    if (e instanceof DaemonUnreachableError) {
      io.err(`l4lb: ${e.message}\n`);
      return EXIT_UNREACHABLE;
    }
    const err = e as Error & { code?: string };
    io.err(`l4lb: ${err.message}\n`);
    if (process.env.L4LB_DEBUG) io.err(`${err.stack}\n`);
    return EXIT_FAILURE;
  }
}
