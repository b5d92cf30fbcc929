/**
 * The composition root: the one place that sees shared/, agent/ and aggregator/ together. It builds the
 * commander program, mounts every command group, and turns errors into messages and exit codes.
 * Command modules export `register(program)`; they stay thin and call the components' own APIs.
 */
import { Command, CommanderError } from 'commander';
import { BaksaError, ExitCode } from '../shared/errors.ts';
import { VERSION, registerVersion } from './commands/version.ts';
import { registerPki } from './commands/pki.ts';
import { registerLedger } from './commands/ledger.ts';
import { registerAgent } from '../agent/commands/index.ts';
import { registerOperatorCommands } from '../aggregator/commands/index.ts';
import { registerDemo } from './demo.ts';

type Register = (program: Command) => void;

/** Every command group, in the order `--help` lists them. */
const groups: Register[] = [
  registerVersion,
  registerPki,
  registerLedger,
  registerAgent,
  registerOperatorCommands,
  (program) => registerDemo(program, runInProcess),
];

export function buildProgram(): Command {
  const program = new Command('2baksa')
    .description('fault-tolerant backup from the edge to the data center')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of groups) register(program);
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
  const program = buildProgram();
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
