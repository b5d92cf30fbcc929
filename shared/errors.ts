/**
 * Errors that reach people carry a stable code and a sentence that says what to do.
 *
 * Two kinds (TigerBeetle's split): a broken internal invariant is a bug and throws a plain Error
 * through `assert`; an operating error (bad input, bad config, a full disk, a refused peer) is a
 * `BaksaError` with a code from `ErrorCode` that scripts can match on, an optional hint, and the
 * process exit code the CLI uses for it.
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  config: 3,
  data: 4,
  unavailable: 5,
  /** A backup saved its snapshot without some entries it could not read (restic's exit 3). */
  incomplete: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface BaksaErrorOptions {
  hint?: string;
  exitCode?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class BaksaError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: BaksaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BaksaError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failure;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

/** A bad value in a config file, profile or flag. `field` is the dotted path of the bad value. */
export function configError(field: string, message: string, hint?: string): BaksaError {
  return new BaksaError('CONFIG_INVALID', `${field}: ${message}`, {
    hint: hint ?? `fix "${field}" and run the command again`,
    exitCode: ExitCode.config,
    details: { field },
  });
}

/** Programmer errors: crash loudly. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}

export function unreachable(value: never, what = 'value'): never {
  throw new Error(`invariant violated: unexpected ${what} ${JSON.stringify(value)}`);
}

/**
 * Runs `listen` (a server binding `host:port`, the value of config field `field`); an address in use,
 * a port not allowed or an address not of this machine becomes a config error naming the field.
 */
export async function listening<T>(field: string, host: string, port: number, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const refusal = (what: string, hint: string) =>
      new BaksaError(code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'ADDRESS_REFUSED', `${field}: ${host}:${port} ${what}`, {
        hint,
        exitCode: ExitCode.config,
        details: { field, host, port },
        cause: error,
      });
    if (code === 'EADDRINUSE') throw refusal('is already in use', `stop the process that holds it (\`ss -ltnp 'sport = :${port}'\` names it), or set "${field}" to a free port`);
    if (code === 'EACCES') throw refusal('may not be bound by this user', `ports below 1024 need privileges; set "${field}" to 1024 or above`);
    if (code === 'EADDRNOTAVAIL') throw refusal('is not an address of this machine', `listen on one of this machine's addresses (or 0.0.0.0) for "${field}"`);
    throw error;
  }
}
