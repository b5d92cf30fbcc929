/**
 * The composition root: the one place that sees shared/, agent/ and aggregator/ together. It builds the
 * commander program, mounts every command group, and turns errors into messages and exit codes.
 * Command modules export `register(program)`; they stay thin and call the components' own APIs.
 */
import { Command, CommanderError } from 'commander';
import { BaksaError, ExitCode } from '../shared/errors.ts';
import { VERSION, registerVersion } from './commands/version.ts';

type Register = (program: Command) => void;

/**
 * Every command group, in the order `--help` lists them, with the top-level commands each mounts. A
 * command line names one of them, and only that group is loaded: the others' modules (the aggregator's
 * for a gateway's `backup`, the pki's, the demo's) cost about 20 ms of a gateway command's start.
 * `--help`, a bare `2baksa` or a word no group has mounts them all (commander's own help and its
 * "did you mean" need them). test/unit/cli/groups.test.ts checks the lists against what each group mounts.
 */
export const COMMAND_GROUPS: ReadonlyArray<{ commands: readonly string[]; load: () => Promise<Register> }> = [
  { commands: ['version'], load: async () => registerVersion },
  { commands: ['pki'], load: async () => (await import('./commands/pki.ts')).registerPki },
  { commands: ['ledger'], load: async () => (await import('./commands/ledger.ts')).registerLedger },
  {
    commands: ['agent', 'backup', 'snapshots', 'restore', 'compare', 'check', 'forget', 'status', 'migrate', 'cluster', 'rebalance'],
    load: async () => (await import('../agent/commands/index.ts')).registerAgent,
  },
  {
    commands: ['aggregator', 'accounts', 'groups', 'sites', 'report', 'check-nagios'],
    load: async () => (await import('../aggregator/commands/index.ts')).registerOperatorCommands,
  },
  {
    commands: ['demo'],
    load: async () => {
      const { registerDemo } = await import('./demo.ts');
      return (program) => registerDemo(program, runInProcess);
    },
  },
];

/**
 * The program with the groups `argv` needs (all of them without `argv`). The line's first word picks
 * the group; a line that starts with an option (`--help`, `-V`) gets them all.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('2baksa')
    .description('fault-tolerant backup from the edge to the data center')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const word = argv?.[2];
  const named = word === undefined || word.startsWith('-') ? undefined : COMMAND_GROUPS.find((g) => g.commands.includes(word));
  for (const group of named ? [named] : COMMAND_GROUPS) (await group.load())(program);
  return program;
}

function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json');
}

export function reportError(error: unknown, json: boolean): number {
  if (error instanceof BaksaError) {
    if (json) process.stdout.write(JSON.stringify({ ok: false, error: error.toJSON() }) + '\n');
    process.stderr.write(`2baksa: ${error.message} [${error.code}]\n`);
    if (error.hint) process.stderr.write(`  what to do: ${error.hint}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  if (json) process.stdout.write(JSON.stringify({ ok: false, error: { code: 'INTERNAL', message: String(error) } }) + '\n');
  process.stderr.write(`2baksa: internal error (a bug; please report it with this output):\n${message}\n`);
  return ExitCode.failure;
}

/** Runs one command line in this process and returns its exit code (the demo drives the CLI so). */
async function runInProcess(args: string[]): Promise<number> {
  const before = process.exitCode;
  process.exitCode = 0;
  await main(['node', '2baksa', ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return code;
}

/**
 * A reader that went away (`2baksa … | head`, a supervisor that closed its pipe) makes writes to stdout
 * or stderr fail with EPIPE, which Node throws as an unhandled 'error' event: a running node would
 * die of its own log line. Output nobody reads is dropped instead; the work goes on.
 */
let outputGuarded = false;
function dropOutputToClosedPipes(): void {
  if (outputGuarded) return;
  outputGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    });
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  dropOutputToClosedPipes();
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : ExitCode.usage;
      return;
    }
    process.exitCode = reportError(error, wantsJson(argv));
  }
}
