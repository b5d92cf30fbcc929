// listenForStop (shared/stop-signal.ts) in a real child process: the first signal asks for a clean stop
// and the process keeps running; a second one ends it at once, by that signal (the same one again
// within `sameSignalMs` is the same request), or with its exit code once the stop ran to its end.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const module = fileURLToPath(new URL('../../../shared/stop-signal.ts', import.meta.url));
const childWith = (options: string, afterStop: string) => `
  const { listenForStop } = await import(${JSON.stringify(module)});
  const stop = listenForStop(${options});
  setInterval(() => {}, 1000); // a shutdown that never ends
  console.log('listening');
  console.log('asked ' + (await stop.requested));
  ${afterStop}
`;

function start(options = '', afterStop = '') {
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', childWith(options, afterStop)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const seen = (text: string) => new Promise<void>((resolve) => {
    const check = () => out.includes(text) && resolve();
    p.stdout!.on('data', (d) => ((out += d), check()));
    check();
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => p.on('exit', (code, signal) => resolve([code, signal])));
  return { p, seen, exited };
}

test('first signal: asked, still running; second: gone by that signal', async () => {
  const { p, seen, exited } = start();
  await seen('listening');
  p.kill('SIGINT');
  await seen('asked SIGINT');
  assert.is(p.exitCode, null, 'the first signal does not end the process');
  p.kill('SIGTERM');
  assert.equal(await exited, [null, 'SIGTERM']);
});

test('sameSignalMs: the same signal again at once is the same request (a Ctrl-C a parent forwards too); another signal still ends it', async () => {
  const { p, seen, exited } = start('{ sameSignalMs: 60_000 }');
  await seen('listening');
  p.kill('SIGINT');
  await seen('asked SIGINT');
  p.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 300));
  assert.is(p.exitCode, null, 'the repeated SIGINT did not end it');
  assert.is(p.signalCode, null);
  p.kill('SIGTERM');
  assert.equal(await exited, [null, 'SIGTERM']);
});

test('after the clean stop ran to its end, a late signal (a parent forwarding a Ctrl-C late) ends the process with its exit code, not by the signal', async () => {
  const { p, seen, exited } = start('{ sameSignalMs: 10 }', "stop.stopped(); console.log('stopped');");
  await seen('listening');
  p.kill('SIGINT');
  await seen('stopped');
  await new Promise((r) => setTimeout(r, 50)); // past sameSignalMs: no longer the same request
  p.kill('SIGINT');
  assert.equal(await exited, [0, null]);
});

test.run();
