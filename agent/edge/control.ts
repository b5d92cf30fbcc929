/**
 * The local control channel between the `2baksa` CLI and the running agent daemon (like Box Backup's
 * bbackupctl command socket). In cluster mode one process must own the shard store volume and the MQTT
 * session, so CLI commands (backup, restore, check, status) do not open them themselves: they connect to the
 * daemon's Unix socket `STATE/agent.sock` and ask it to do the work.
 *
 * Wire: length-prefixed MessagePack frames. Request `{id, op, args}`; the daemon answers with zero or more
 * `{id, event}`, then one `{id, result}` or `{id, error: {code, message, hint?, exitCode?, details?}}`.
 * Several requests may share a connection; closing the connection aborts its requests. Bad bytes from a
 * client close that client's connection, nothing else.
 *
 * A Unix socket path must fit in sun_path (104 bytes on macOS/BSD, 108 on Linux, and Node silently truncates a
 * longer one). For a longer path the daemon listens on `TMPDIR/2baksa-<sha256(path):16>.sock` and writes the
 * real path as a small regular file naming that socket; a client that finds a regular file reads it.
 */
import { createHash } from 'node:crypto';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { decodeUntrusted, type DecodeLimits } from '../../shared/protocol/codec.ts';
import { FrameDecoder, encodeFrameHeader } from '../../shared/transport/framing.ts';
import { listenOn } from '../../shared/transport/listen.ts';

export type ControlHandler = (args: unknown, ctx: { emit(event: unknown): void; signal: AbortSignal }) => Promise<unknown>;
export interface ControlServerOptions { frameBytesMax?: number; logger?: Logger }
export interface ControlServer { readonly path: string; close(): Promise<void> }

const FRAME_BYTES_MAX = 64 * 1024 * 1024;
const SOCKET_PATH_BYTES_MAX = 103;
const ENCODE_OPTIONS = { ignoreUndefined: true } as const;
type Message = Record<string, unknown>;

export function controlSocketPath(stateDir: string): string {
  return join(stateDir, 'agent.sock');
}

/** Every length bounded by the frame size (the structural scan runs before any allocation). */
function limitsFor(frameBytesMax: number): DecodeLimits {
  const n = frameBytesMax;
  return Object.freeze({ inputBytesMax: n, maxStrLength: n, maxBinLength: n, maxArrayLength: n, maxMapLength: n, maxExtLength: 16, depthMax: 32 });
}

function send(socket: Socket, message: Message, frameBytesMax: number): void {
  let body: Uint8Array;
  try {
    body = encode(message, ENCODE_OPTIONS);
  } catch (error) {
    throw new BaksaError('CONTROL_UNENCODABLE', `cannot encode a control message: ${(error as Error).message}`);
  }
  if (body.length > frameBytesMax) throw new BaksaError('CONTROL_FRAME_TOO_LARGE', `control message of ${body.length} bytes exceeds the limit of ${frameBytesMax}`);
  if (socket.destroyed) return;
  socket.write(encodeFrameHeader(body.length));
  socket.write(body);
}

/** Feeds socket bytes to `onMessage`; destroys the socket on an oversize or malformed frame. */
function readMessages(socket: Socket, frameBytesMax: number, onMessage: (m: Message) => void, onBad: (why: string) => void): void {
  const decoder = new FrameDecoder(frameBytesMax);
  const limits = limitsFor(frameBytesMax);
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const frame of decoder.push(chunk)) {
        const m = decodeUntrusted(frame, limits);
        if (typeof m !== 'object' || m === null || !Number.isSafeInteger((m as Message).id)) throw new Error('message without a numeric id');
        if (socket.destroyed) return;
        onMessage(m as Message);
      }
    } catch (error) {
      onBad((error as Error).message);
      socket.destroy();
    }
  });
}

function errorBody(error: unknown): Message {
  if (!(error instanceof BaksaError)) return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
  return { code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode, details: error.details };
}

function dial(path: string, timeoutMs?: number): Promise<Socket> {
  return new Promise((resolvePromise, reject) => {
    const socket = createConnection(path);
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      socket.destroy();
      reject(new BaksaError('AGENT_UNRESPONSIVE', `the agent daemon did not accept a connection on ${path} within ${timeoutMs} ms`, { exitCode: ExitCode.unavailable }));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolvePromise(socket);
    });
  });
}

const isNotListening = (error: unknown) => ['ENOENT', 'ECONNREFUSED'].includes((error as NodeJS.ErrnoException).code ?? '');
const tooLong = (path: string) => Buffer.byteLength(path) > SOCKET_PATH_BYTES_MAX;
const shortSocketPath = (path: string) => join(tmpdir(), `2baksa-${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 16)}.sock`);

export async function startControlServer(path: string, handlers: Readonly<Record<string, ControlHandler>>, options: ControlServerOptions = {}): Promise<ControlServer> {
  const frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX;
  const logger = options.logger ?? silentLogger;
  const endpoint = tooLong(path) ? shortSocketPath(path) : path;
  const probe = await dial(endpoint).then((s) => (s.destroy(), 'LISTENING'), (e: NodeJS.ErrnoException) => e.code);
  if (probe === 'LISTENING') {
    throw new BaksaError('AGENT_ALREADY_RUNNING', `an agent daemon already answers on ${path}`, {
      hint: 'stop the running daemon first, or give this one another --state directory', exitCode: ExitCode.unavailable,
    });
  }
  if (probe === 'ECONNREFUSED') await rm(endpoint, { force: true }); // a stale socket left by a daemon that died
  const connections = new Map<Socket, Map<number, AbortController>>();
  const drop = (socket: Socket) => {
    for (const controller of connections.get(socket)?.values() ?? []) controller.abort();
    connections.delete(socket);
    socket.destroy();
  };

  async function handle(socket: Socket, inFlight: Map<number, AbortController>, id: number, op: unknown, args: unknown): Promise<void> {
    const handler = typeof op === 'string' && Object.hasOwn(handlers, op) ? handlers[op] : undefined;
    if (!handler) return send(socket, { id, error: { code: 'CONTROL_UNKNOWN_OP', message: `unknown control operation ${JSON.stringify(op)}` } }, frameBytesMax);
    const controller = new AbortController();
    inFlight.set(id, controller);
    const emit = (event: unknown) => {
      if (inFlight.get(id) === controller) send(socket, { id, event: event ?? null }, frameBytesMax);
    };
    let reply: Message;
    try {
      reply = { id, result: await handler(args, { emit, signal: controller.signal }) };
    } catch (error) {
      reply = { id, error: errorBody(error) };
    } finally {
      if (inFlight.get(id) === controller) inFlight.delete(id);
    }
    try {
      send(socket, reply, frameBytesMax);
    } catch (error) {
      send(socket, { id, error: errorBody(error) }, frameBytesMax); // too large or unencodable
    }
  }

  const server = createServer((socket) => {
    const inFlight = new Map<number, AbortController>();
    connections.set(socket, inFlight);
    socket.on('error', (error) => logger.debug({ err: error }, 'control connection error'));
    socket.on('close', () => drop(socket));
    readMessages(socket, frameBytesMax, ({ id, op, args }) => {
      if (inFlight.has(id as number)) throw new Error(`request id ${id} is already in flight`);
      handle(socket, inFlight, id as number, op, args).catch((error) => logger.warn({ err: error }, 'control reply failed'));
    }, (why) => logger.warn({ why }, 'closing a control connection after a bad frame'));
  });
  server.on('error', (error) => logger.error({ err: error }, 'control server error'));
  await listenOn(server, endpoint);
  await chmod(endpoint, 0o600);
  if (endpoint !== path) {
    await writeFile(`${path}.tmp`, `${endpoint}\n`, { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }
  logger.info({ path, endpoint }, 'control socket listening');
  let closing: Promise<void> | undefined;
  return {
    path,
    close: () => (closing ??= (async () => {
      const stopped = new Promise<void>((r) => server.close(() => r()));
      for (const socket of [...connections.keys()]) drop(socket);
      await stopped;
      await rm(endpoint, { force: true });
      if (endpoint !== path) await rm(path, { force: true });
    })()),
  };
}

interface Pending { resolve(value: unknown): void; reject(error: unknown): void; onEvent: ((event: unknown) => void) | undefined }

const disconnected = () => new BaksaError('AGENT_DISCONNECTED', 'the agent daemon closed the connection', { exitCode: ExitCode.unavailable });

function toBaksaError(raw: unknown): BaksaError {
  const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Message;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return new BaksaError(str(e.code) ?? 'INTERNAL', str(e.message) ?? 'the agent daemon sent a malformed error', {
    hint: str(e.hint),
    exitCode: typeof e.exitCode === 'number' ? e.exitCode : undefined,
    details: typeof e.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : undefined,
  });
}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket, private readonly frameBytesMax: number) {
    this.closed = new Promise((r) => socket.once('close', () => r()));
    socket.on('error', () => {}); // 'close' follows and rejects what is pending
    socket.on('close', () => {
      for (const p of this.pending.values()) p.reject(disconnected());
      this.pending.clear();
    });
    readMessages(socket, frameBytesMax, (m) => this.receive(m), () => {});
  }

  static async connect(path: string, options: { frameBytesMax?: number; timeoutMs?: number } = {}): Promise<ControlClient> {
    const notRunning = () => new BaksaError('AGENT_NOT_RUNNING', `no agent daemon answers on ${path}`, {
      hint: 'start it with `2baksa agent run --state DIR` (cluster mode runs backups, restores and checks through the daemon)',
      exitCode: ExitCode.unavailable,
    });
    let endpoint = path;
    if ((await stat(path).catch(() => undefined))?.isFile()) endpoint = (await readFile(path, 'utf8')).trim();
    if (tooLong(endpoint)) throw notRunning();
    try {
      return new ControlClient(await dial(endpoint, options.timeoutMs), options.frameBytesMax ?? FRAME_BYTES_MAX);
    } catch (error) {
      throw isNotListening(error) ? notRunning() : error;
    }
  }

  call<T = unknown>(op: string, args?: unknown, onEvent?: (event: unknown) => void): Promise<T> {
    if (this.socket.destroyed) return Promise.reject(disconnected());
    const id = this.nextId++;
    return new Promise<T>((resolvePromise, reject) => {
      send(this.socket, { id, op, args }, this.frameBytesMax); // throws (rejects) before registering if too large
      this.pending.set(id, { resolve: resolvePromise as (v: unknown) => void, reject, onEvent });
    });
  }

  private receive(m: Message): void {
    const id = m.id as number;
    const p = this.pending.get(id);
    if (!p) return;
    if ('event' in m) {
      try {
        p.onEvent?.(m.event);
      } catch (error) {
        this.pending.delete(id);
        p.reject(error);
      }
      return;
    }
    this.pending.delete(id);
    if ('error' in m) p.reject(toBaksaError(m.error));
    else p.resolve(m.result);
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }
}
