// An aggregator node that cannot start (a port of its config taken by another process) fails with the
// field to fix and leaves nothing open: its other ports are free again, and `aggregator run` exits
// with the config exit code instead of lingering with a broker and timers but no API. A node whose
// stdout reader goes away keeps running and stops cleanly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log.ts';
import type { BaksaError } from '../../../shared/errors.ts';
import { initCluster } from '../../../aggregator/node/init.ts';
import { loadNodeConfig } from '../../../aggregator/node/config.ts';
import { AggregatorNode } from '../../../aggregator/node/node.ts';
import { freeBasePort, portFree } from '../../../cli/demo-data.ts';
import { jsonLines, runCli, startCli } from '../../helpers/cli.ts';
import { accepts } from '../../helpers/brokers.ts';

const hold = (port: number, host = '127.0.0.1'): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
const release = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

test('a taken port: the error names the field, and every port the node had opened is closed again; a closed stdout is no crash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-start-'));
  try {
    const base = await freeBasePort();
    const init = await initCluster({ dir: join(dir, 'c'), nodes: 4, basePort: base, persistFsync: false });
    const config = await loadNodeConfig(init.nodes[0]!.config);
    const cases: Array<[string, number, string]> = [
      ['mqtt.embedded.port', base + 200, '127.0.0.1'],
      ['replicas[0].port', base, '0.0.0.0'],
      ['api.port', base + 100, '127.0.0.1'],
    ];
    for (const [field, port, host] of cases) {
      const taken = await hold(port, host);
      try {
        await AggregatorNode.start(config, { logger: silentLogger, onFatal: (e) => { throw e; } });
        assert.unreachable(`${field} is taken`);
      } catch (error) {
        const e = error as BaksaError;
        assert.is(e.code, 'PORT_IN_USE', String(error));
        assert.is(e.details?.field, field);
        assert.match(e.message, `:${port} is already in use`);
        assert.is(e.exitCode, 3);
      } finally {
        await release(taken);
      }
      // What the failed start had bound before the taken port is free for the next start.
      for (const [otherField, otherPort, otherHost] of cases) assert.ok(await portFree(otherPort, otherHost), `${otherField} (${otherPort}) still bound after a failed start on ${field}`);
    }

    // The command exits (code 3) with the error as JSON, rather than running on without an API.
    const taken = await hold(base + 100);
    try {
      const run = runCli(['aggregator', 'run', '--config', init.nodes[0]!.config, '--json']);
      const { code } = await run.exited;
      assert.is(code, 3, run.output());
      const out = JSON.parse(run.out().trim().split('\n').pop()!) as { ok: boolean; error: { code: string; details: { field: string } } };
      assert.is(out.ok, false);
      assert.is(out.error.code, 'PORT_IN_USE');
      assert.is(out.error.details.field, 'api.port');
    } finally {
      await release(taken);
    }

    // Started for real, then its reader goes away (`… | head`): the node runs on, and on SIGTERM its
    // last line ("stopped") is dropped instead of killing it with EPIPE.
    const child = startCli(['aggregator', 'run', '--config', init.nodes[0]!.config, '--json']);
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('"event":"ready"')) resolve();
      });
    });
    child.stdout!.destroy();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.is(await exited, 0, err.slice(-3000));
    assert.not.match(err, 'EPIPE');

    // SIGTERM while the node is still starting (its broker is up, its API not yet): it finishes
    // starting, then stops cleanly, instead of dying by the signal halfway through.
    const early = runCli(['aggregator', 'run', '--config', init.nodes[0]!.config, '--json']);
    // Asked by connecting: a probe that bound the port itself once took it from the starting broker.
    while (!(await accepts(base + 200)) && early.child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
    early.child.kill('SIGTERM');
    const ended = await early.exited;
    assert.equal([ended.code, ended.signal], [0, null], early.output().slice(-3000));
    const events = jsonLines(ended.stdout).map((l) => l.event);
    assert.equal(events, ['ready', 'stopped']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
