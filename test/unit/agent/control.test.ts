// The CLI ↔ daemon control socket: results, ordered events, errors, concurrency, aborts, stale and live
// sockets, long paths, and bad frames that close one connection only.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { encode } from '@msgpack/msgpack';
import { ControlClient, controlSocketPath, startControlServer, type ControlHandler } from '../../../agent/edge/control.ts';
import { BaksaError, ExitCode } from '../../../shared/errors.ts';
import { encodeFrameHeader } from '../../../shared/transport/framing.ts';
import { tempDir } from './_helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(promise: Promise<unknown>): Promise<BaksaError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, BaksaError);
    return error as BaksaError;
  }
  throw new Error('expected a rejection');
}

/** Sends raw bytes on a fresh connection and resolves when the server closes it. */
function closedAfter(path: string, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const s = createConnection(path, () => s.write(bytes));
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

const handlers: Record<string, ControlHandler> = {
  echo: async (args) => args,
  count: async (args, { emit }) => {
    for (let i = 0; i < (args as number); i++) emit({ i });
    return 'done';
  },
  slow: async (args) => (await sleep(50), args),
  fill: async (args) => 'y'.repeat(args as number),
  refuse: async () => {
    throw new BaksaError('SOURCE_MISSING', 'no such source', { hint: 'add it', exitCode: ExitCode.config, details: { source: '/x' } });
  },
  crash: async () => {
    throw new TypeError('boom');
  },
};

test('controlSocketPath is STATE/agent.sock', () => {
  assert.is(controlSocketPath('/var/lib/2baksa'), '/var/lib/2baksa/agent.sock');
});

test('results round-trip with binary values; events arrive in order before the result', async () => {
  const t = tempDir();
  const server = await startControlServer(join(t.path, 'agent.sock'), handlers);
  const client = await ControlClient.connect(server.path);
  try {
    assert.is(statSync(server.path).mode & 0o777, 0o600);
    const sent = { name: 'x', blob: new Uint8Array([0, 1, 255]), list: [1, null, 'a'] };
    const got = await client.call<typeof sent>('echo', sent);
    assert.instance(got.blob, Uint8Array);
    assert.equal([...got.blob], [0, 1, 255]);
    assert.equal(got.list, [1, null, 'a']);
    assert.is(await client.call('echo'), undefined, 'no args arrive as undefined');
    const seen: unknown[] = [];
    const result = await client.call('count', 5, (e) => seen.push(e));
    seen.push(result);
    assert.equal(seen, [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }, 'done']);
  } finally {
    await client.close();
    await server.close();
    t.cleanup();
  }
});

test('concurrent calls on one connection are told apart by id', async () => {
  const t = tempDir();
  const server = await startControlServer(join(t.path, 'agent.sock'), handlers);
  const client = await ControlClient.connect(server.path);
  try {
    const order: string[] = [];
    const slow = client.call('slow', 'slow').then((v) => order.push(v as string));
    const fast = client.call('echo', 'fast').then((v) => order.push(v as string));
    await Promise.all([slow, fast]);
    assert.equal(order, ['fast', 'slow']);
  } finally {
    await client.close();
    await server.close();
    t.cleanup();
  }
});

test('unknown ops, BaksaErrors and other errors come back as BaksaErrors', async () => {
  const t = tempDir();
  const server = await startControlServer(join(t.path, 'agent.sock'), handlers);
  const client = await ControlClient.connect(server.path);
  try {
    const unknown = await rejection(client.call('nope'));
    assert.is(unknown.code, 'CONTROL_UNKNOWN_OP');
    assert.match(unknown.message, 'nope');
    const refused = await rejection(client.call('refuse'));
    assert.is(refused.code, 'SOURCE_MISSING');
    assert.is(refused.message, 'no such source');
    assert.is(refused.hint, 'add it');
    assert.is(refused.exitCode, ExitCode.config);
    assert.equal(refused.details, { source: '/x' });
    const crashed = await rejection(client.call('crash'));
    assert.is(crashed.code, 'INTERNAL');
    assert.is(crashed.message, 'boom');
    assert.is(await client.call('echo', 7), 7, 'the connection still works after errors');
  } finally {
    await client.close();
    await server.close();
    t.cleanup();
  }
});

test('connecting where nothing listens says the agent is not running', async () => {
  const t = tempDir();
  try {
    const e = await rejection(ControlClient.connect(join(t.path, 'agent.sock')));
    assert.is(e.code, 'AGENT_NOT_RUNNING');
    assert.match(e.message, join(t.path, 'agent.sock'));
    assert.match(e.hint ?? '', '2baksa agent run --state DIR');
  } finally {
    t.cleanup();
  }
});

test('a stale socket is replaced; a live one refuses a second daemon; close removes the socket', async () => {
  const t = tempDir();
  const path = join(t.path, 'agent.sock');
  // A daemon killed while listening leaves its socket file behind.
  const code = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', code]);
  assert.ok(lstatSync(path).isSocket(), 'stale socket left behind');
  assert.is((await rejection(ControlClient.connect(path))).code, 'AGENT_NOT_RUNNING', 'ECONNREFUSED is not running too');
  const server = await startControlServer(path, handlers);
  try {
    const second = await rejection(startControlServer(path, handlers));
    assert.is(second.code, 'AGENT_ALREADY_RUNNING');
    assert.ok(second.hint);
    const client = await ControlClient.connect(path);
    assert.is(await client.call('echo', 'still first'), 'still first');
    await client.close();
  } finally {
    await server.close();
  }
  assert.not.ok(existsSync(path), 'socket file removed on close');
  t.cleanup();
});

test('a socket path longer than sun_path works through a pointer file', async () => {
  const t = tempDir();
  const dir = join(t.path, 'a'.repeat(60), 'b'.repeat(60));
  mkdirSync(dir, { recursive: true });
  const path = controlSocketPath(dir);
  assert.ok(Buffer.byteLength(path) > 107);
  const server = await startControlServer(path, handlers);
  const endpoint = readFileSync(path, 'utf8').trim();
  try {
    assert.ok(lstatSync(path).isFile());
    assert.match(endpoint, /2baksa-[0-9a-f]{16}\.sock$/);
    assert.ok(lstatSync(endpoint).isSocket());
    const client = await ControlClient.connect(path);
    assert.is(await client.call('echo', 'long'), 'long');
    await client.close();
  } finally {
    await server.close();
  }
  assert.not.ok(existsSync(path));
  assert.not.ok(existsSync(endpoint));
  t.cleanup();
});

test('malformed and oversize frames close only that connection', async () => {
  const t = tempDir();
  const server = await startControlServer(join(t.path, 'agent.sock'), handlers, { frameBytesMax: 1024 });
  const good = await ControlClient.connect(server.path);
  try {
    const garbage = new Uint8Array([0xc1, 0xc1]);
    await closedAfter(server.path, new Uint8Array([...encodeFrameHeader(garbage.length), ...garbage]));
    await closedAfter(server.path, encodeFrameHeader(1025)); // declared length above the limit
    const noId = encode({ op: 'echo' });
    await closedAfter(server.path, new Uint8Array([...encodeFrameHeader(noId.length), ...noId]));
    assert.is(await good.call('echo', 'alive'), 'alive');
    // A request the server finds too large drops that client; a reply too large becomes an error.
    const big = await ControlClient.connect(server.path);
    assert.is((await rejection(big.call('echo', 'x'.repeat(2000)))).code, 'AGENT_DISCONNECTED');
    const tooLarge = await rejection(good.call('fill', 2000));
    assert.is(tooLarge.code, 'CONTROL_FRAME_TOO_LARGE');
    assert.match(tooLarge.message, 'exceeds the limit of 1024');
    assert.is(await good.call('echo', 'still alive'), 'still alive');
  } finally {
    await good.close();
    await server.close();
    t.cleanup();
  }
});

test('a client closing aborts its in-flight handlers; a server closing rejects calls', async () => {
  const t = tempDir();
  let aborted = 0;
  const wait: ControlHandler = (_args, { signal, emit }) =>
    new Promise((resolve) => {
      emit('started');
      signal.addEventListener('abort', () => (aborted++, resolve('aborted')));
    });
  const server = await startControlServer(join(t.path, 'agent.sock'), { wait });
  try {
    const a = await ControlClient.connect(server.path);
    const started = new Promise<void>((r) => void a.call('wait', null, () => r()).catch(() => {}));
    const call = a.call('wait');
    await started;
    await a.close();
    assert.is((await rejection(call)).code, 'AGENT_DISCONNECTED');
    for (let i = 0; i < 50 && aborted < 2; i++) await sleep(10);
    assert.is(aborted, 2, 'both handlers on the closed connection saw the abort');
    assert.is((await rejection(a.call('wait'))).code, 'AGENT_DISCONNECTED', 'calls after close reject');

    const b = await ControlClient.connect(server.path);
    const pending = b.call('wait', null, () => void server.close());
    const e = await rejection(pending);
    assert.is(e.code, 'AGENT_DISCONNECTED');
    assert.is(e.message, 'the agent daemon closed the connection');
    assert.is(aborted, 3);
  } finally {
    await server.close();
    t.cleanup();
  }
});

test.run();
