/** Helpers shared by the agent's commands: option parsing and the state directory. */
import { BaksaError, ExitCode } from '../../shared/errors.ts';

export interface StateFlag {
  state: string;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function intFlag(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < -1) {
      throw new BaksaError('USAGE', `--${name} wants a whole number (or -1 for unlimited), got "${value}"`, {
        hint: `for example --${name} 7`,
        exitCode: ExitCode.usage,
      });
    }
    return n;
  };
}

export function stateDirOf(opts: { state?: string }): string {
  const dir = opts.state ?? process.env.BAKSA_STATE;
  if (!dir) {
    throw new BaksaError('USAGE', 'no state directory given', { hint: 'add --state DIR (or set BAKSA_STATE)', exitCode: ExitCode.usage });
  }
  return dir;
}
