// listenForStop (shared/stop-signal.ts) in a real child process: the first signal asks for a clean stop
// and the process keeps running; a second one ends it at once, by that signal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const module = fileURLToPath(new URL('../../../shared/stop-signal.ts', import.meta.url));
const child = `
  const { listenForStop } = await import(${JSON.stringify(module)});
  const stop = listenForStop();
  setInterval(() => {}, 1000); // a shutdown that never ends
  console.log('listening');
  console.log('asked ' + (await stop.requested));
`;

test('first signal: asked, still running; second: gone by that signal', async () => {
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const seen = (text: string) => new Promise<void>((resolve) => {
    const check = () => out.includes(text) && resolve();
    p.stdout!.on('data', (d) => ((out += d), check()));
    check();
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => p.on('exit', (code, signal) => resolve([code, signal])));
  await seen('listening');
  p.kill('SIGINT');
  await seen('asked SIGINT');
  assert.is(p.exitCode, null, 'the first signal does not end the process');
  p.kill('SIGTERM');
  assert.equal(await exited, [null, 'SIGTERM']);
});

test.run();
