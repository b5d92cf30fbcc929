/**
 * One contract every transport keeps (STYLE.md: MQTT.js runs one suite against every store).
 * `transportContract(name, setup)` registers the suite; `setup(ids)` returns started transports for
 * those node ids and a cleanup.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Transport } from '../../../shared/transport/index.ts';

export interface ContractCluster {
  transports: Transport[];
  cleanup(): Promise<void>;
}

export type ContractSetup = (ids: string[]) => Promise<ContractCluster>;

export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function collect(t: Transport): Array<{ from: string; text: string }> {
  const got: Array<{ from: string; text: string }> = [];
  t.onFrame((from, frame) => got.push({ from, text: Buffer.from(frame).toString() }));
  return got;
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

export function transportContract(name: string, setup: ContractSetup) {
  const test = suite(`transport contract: ${name}`);

  test('every pair exchanges frames, with the sender named', async () => {
    const { transports, cleanup } = await setup(['a', 'b', 'c']);
    try {
      const inboxes = transports.map(collect);
      for (const t of transports) for (const p of t.peers()) t.send(p, bytes(`${t.self}->${p}`));
      await until(() => inboxes.every((box) => box.length === 2), 'all frames');
      for (const [i, box] of inboxes.entries()) {
        const self = transports[i]!.self;
        const sorted = box.map((m) => `${m.from}:${m.text}`).sort();
        const expected = transports.filter((t) => t.self !== self).map((t) => `${t.self}:${t.self}->${self}`).sort();
        assert.equal(sorted, expected);
      }
    } finally {
      await cleanup();
    }
  });

  test('frames on one link arrive in order', async () => {
    const { transports, cleanup } = await setup(['a', 'b']);
    try {
      const [a, b] = transports as [Transport, Transport];
      const box = collect(b);
      for (let i = 0; i < 500; i++) assert.ok(a.send('b', bytes(`m${i}`)));
      await until(() => box.length === 500, '500 frames');
      assert.equal(box.map((m) => m.text), Array.from({ length: 500 }, (_, i) => `m${i}`));
      assert.ok(box.every((m) => m.from === 'a'));
    } finally {
      await cleanup();
    }
  });

  test('a frame to an unknown peer is refused, and counted', async () => {
    const { transports, cleanup } = await setup(['a', 'b']);
    try {
      const a = transports[0]!;
      assert.is(a.send('nobody', bytes('x')), false);
      assert.ok(a.stats().framesDropped >= 1);
    } finally {
      await cleanup();
    }
  });

  test('a frame larger than the bound is refused at the sender', async () => {
    const { transports, cleanup } = await setup(['a', 'b']);
    try {
      const a = transports[0]!;
      assert.is(a.send('b', new Uint8Array(64 * 1024 * 1024 + 1)), false);
    } finally {
      await cleanup();
    }
  });

  test('a large frame within the bound arrives intact', async () => {
    const { transports, cleanup } = await setup(['a', 'b']);
    try {
      const [a, b] = transports as [Transport, Transport];
      let got: Uint8Array | undefined;
      b.onFrame((_from, frame) => (got = frame));
      const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) & 0xff);
      assert.ok(a.send('b', big));
      await until(() => got !== undefined, 'the large frame');
      assert.equal(Buffer.compare(Buffer.from(got!), Buffer.from(big)), 0);
    } finally {
      await cleanup();
    }
  });

  test('after close nothing is sent or delivered', async () => {
    const { transports, cleanup } = await setup(['a', 'b']);
    try {
      const [a, b] = transports as [Transport, Transport];
      const box = collect(b);
      await a.close();
      assert.is(a.send('b', bytes('late')), false);
      await new Promise((r) => setTimeout(r, 50));
      assert.is(box.length, 0);
    } finally {
      await cleanup();
    }
  });

  return test;
}
