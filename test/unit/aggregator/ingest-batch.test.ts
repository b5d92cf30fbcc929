// Heartbeat ingestion in batches (aggregator/monitoring/ingest.ts handleBatch, signatures on a VerifyPool):
// the outcome equals handling the same messages one by one on the main thread — the same actions (so
// each alert exactly once), the same rejections, the same stored state (Box Backup 3, DESIGN §7/§8).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { VerifyPool } from '../../../shared/crypto/verify-pool.ts';
import { topics } from '../../../shared/protocol/index.ts';
import { applyOrThrow, openAccountDb } from '../../../aggregator/accounts/index.ts';
import { HeartbeatIngest, monitorMetrics, openTelemetry, sealTelemetry, type HeartbeatBody, type IngestAction } from '../../../aggregator/monitoring/index.ts';
import { TELEMETRY_LIMITS } from '../../../aggregator/monitoring/ingest.ts';
import type { BatchVerifier } from '../../../shared/crypto/verify-pool.ts';

const T0 = 1_700_000_000_000;
const CLUSTER = 'c1';
const ACCOUNTS = ['gw1.example', 'gw2.example', 'gw3.example'];
const FROMS = ['gw1', 'gw2', 'gw3', 'evil'];
const keys = Array.from({ length: 4 }, () => generateSigningKey()); // the last one is a thief's

async function setup(verifier?: BatchVerifier) {
  const db = await openAccountDb(':memory:', { durable: false });
  for (const name of ACCOUNTS) {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name, number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 10 });
  }
  const registry = new Registry();
  const ingest = new HeartbeatIngest(db, { cluster: CLUSTER }, monitorMetrics(registry), verifier);
  await ingest.start();
  return { db, ingest, registry };
}

function hb(account: string, significant: boolean): HeartbeatBody {
  const errors = significant ? [{ atMs: T0, message: 'disk read failed', significant: true }] : [];
  return { account, host: 'gw', agentVersion: '0.1.0', backupType: 'lazy', uptimeS: 5, bytesSynced: 100, bytesRestored: 7, errors };
}

const who = { acct: fc.nat({ max: 2 }), key: fc.nat({ max: 3 }), from: fc.nat({ max: 3 }) };
const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('register' as const), ...who }),
  fc.record({ kind: fc.constant('heartbeat' as const), ...who, topicAcct: fc.nat({ max: 2 }), significant: fc.boolean(), stale: fc.boolean() }),
  fc.record({ kind: fc.constant('heartbeat' as const), acct: fc.constant(0), key: fc.constant(0), from: fc.constant(0), topicAcct: fc.constant(0), significant: fc.constant(false), stale: fc.constant(false) }),
  fc.record({ kind: fc.constant('deregister' as const), ...who }),
  fc.record({ kind: fc.constant('replay' as const), back: fc.nat() }),
  fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
);
type Step = typeof stepArb extends fc.Arbitrary<infer S> ? S : never;

/** The wire messages of a scenario (signed once, so both ingests see the same bytes). */
function messagesOf(steps: Step[]) {
  const out: { topic: string; payload: Uint8Array; receivedMs: number }[] = [];
  steps.forEach((s, i) => {
    const ts = T0 + i * 1500;
    switch (s.kind) {
      case 'register': {
        const body = { account: ACCOUNTS[s.acct]!, host: 'gw', agentVersion: '0.1.0', pubkey: keys[s.key]!.publicKey, site: 'site-a' };
        out.push({ topic: topics.dc(CLUSTER, 'register'), payload: sealTelemetry('Register', body, FROMS[s.from]!, ts, keys[s.key]!.privateKey), receivedMs: ts });
        break;
      }
      case 'heartbeat': {
        const signedTs = s.stale ? ts - 3_600_000 : ts;
        const payload = sealTelemetry('Heartbeat', hb(ACCOUNTS[s.acct]!, s.significant), FROMS[s.from]!, signedTs, keys[s.key]!.privateKey);
        out.push({ topic: topics.heartbeat('site-a', ACCOUNTS[s.topicAcct]!), payload, receivedMs: ts });
        break;
      }
      case 'deregister': {
        const payload = sealTelemetry('Deregister', { account: ACCOUNTS[s.acct]!, reason: 'shutdown' }, FROMS[s.from]!, ts, keys[s.key]!.privateKey);
        out.push({ topic: topics.dc(CLUSTER, 'deregister'), payload, receivedMs: ts });
        break;
      }
      case 'replay': {
        const earlier = out.length === 0 ? undefined : out[s.back % out.length]!;
        out.push(earlier ? { ...earlier, receivedMs: ts } : { topic: topics.heartbeat('site-a', ACCOUNTS[0]!), payload: new Uint8Array(1), receivedMs: ts });
        break;
      }
      case 'garbage':
        out.push({ topic: topics.heartbeat('site-a', ACCOUNTS[0]!), payload: s.bytes, receivedMs: ts });
        break;
    }
  });
  return out;
}

/** One line per action / row (bytes as hex), so a difference prints short. */
const lines = (xs: readonly unknown[]) =>
  xs.map((x) => JSON.stringify(x, (_, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v && typeof v === 'object' && 'type' in v && v.type === 'Buffer' ? JSON.stringify(v) : v)));

async function outcome(ingest: HeartbeatIngest, db: Awaited<ReturnType<typeof setup>>['db'], registry: Registry, actions: IngestAction[]) {
  const silent = ingest.tick(T0 + 10_000_000);
  await ingest.store.flush();
  const state = await db.all('SELECT * FROM hb_state ORDER BY account');
  const rejected = (await registry.getSingleMetricAsString('baksa_telemetry_rejected_total')).split('\n');
  return { actions: lines(actions), silent: lines(silent), state: lines(state), rejected };
}

test('batches verified on workers give what one-by-one handling gives (actions, alerts, rejections, state)', async () => {
  const pool = new VerifyPool({ size: 2, batchItemsMax: 3 });
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 30 }), async (steps, cuts) => {
        const messages = messagesOf(steps);
        const serial = await setup();
        const serialActions: IngestAction[] = [];
        for (const m of messages) serialActions.push(...(await serial.ingest.handle(m.topic, m.payload, m.receivedMs)));
        const batched = await setup(pool);
        // Random batch sizes (and some empty batches), all started before any finishes.
        const pending = [];
        for (let i = 0, c = 0; i < messages.length; c++) {
          const n = cuts[c % cuts.length]!;
          pending.push(batched.ingest.handleBatch(messages.slice(i, i + n)));
          if (c % 3 === 0) pending.push(batched.ingest.handleBatch([]));
          i += n;
        }
        const results = await Promise.all(pending);
        assert.equal(results.flatMap((r) => r.errors), []);
        const a = await outcome(serial.ingest, serial.db, serial.registry, serialActions);
        const b = await outcome(batched.ingest, batched.db, batched.registry, results.flatMap((r) => r.actions));
        assert.equal(b.actions, a.actions);
        assert.equal(b.silent, a.silent);
        assert.equal(b.state, a.state);
        assert.equal(b.rejected, a.rejected);
        await serial.db.close();
        await batched.db.close();
      }),
      { numRuns: 25 },
    );
    assert.ok(pool.stats().workerItems > 0, 'the workers verified');
  } finally {
    await pool.close();
  }
});

test('a Register and the heartbeats it enables, in one batch: the heartbeats verify under the key just pinned', async () => {
  const pool = new VerifyPool({ size: 1 });
  const { db, ingest } = await setup(pool);
  try {
    const k = keys[0]!;
    const reg = sealTelemetry('Register', { account: 'gw1.example', host: 'gw', agentVersion: '0.1.0', pubkey: k.publicKey }, 'gw1', T0, k.privateKey);
    const beat = (ts: number) => ({ topic: topics.heartbeat('site-a', 'gw1.example'), payload: sealTelemetry('Heartbeat', hb('gw1.example', ts === T0 + 2), 'gw1', ts, k.privateKey), receivedMs: ts });
    const first = beat(T0 + 1);
    const { actions, errors } = await ingest.handleBatch([{ topic: topics.dc(CLUSTER, 'register'), payload: reg, receivedMs: T0 }, first, beat(T0 + 2), first]);
    assert.equal(errors, []);
    assert.equal(actions.map((x) => x.type), ['publish', 'alert']);
    await ingest.store.flush();
    assert.is((await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = 1'))?.heartbeats, 2, 'two fresh heartbeats, one replay');
  } finally {
    await db.close();
    await pool.close();
  }
});

test('decoding without the signature, then verifying, answers what verifyEnvelope answers (same codes)', async () => {
  const { db, ingest } = await setup();
  const k = keys[0]!;
  const reg = sealTelemetry('Register', { account: 'gw1.example', host: 'gw', agentVersion: '0.1.0', pubkey: k.publicKey }, 'gw1', T0, k.privateKey);
  await ingest.handle(topics.dc(CLUSTER, 'register'), reg, T0);
  const good = sealTelemetry('Heartbeat', hb('gw1.example', true), 'gw1', T0 + 1, k.privateKey);
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const b = Uint8Array.from(good);
      b[i]! ^= x;
      return b;
    }),
    fc.nat({ max: good.length }).map((n) => good.subarray(0, n)),
    fc.constant(sealTelemetry('Heartbeat', hb('gw1.example', false), 'gw2', T0 + 1, k.privateKey)), // unknown sender
  );
  const keyOf = (from: string) => (from === 'gw1' ? k.publicKey : undefined);
  await fc.assert(
    fc.asyncProperty(bytesArb, async (bytes) => {
      let expected: string;
      try {
        expected = `ok ${openTelemetry(bytes, { keyOf, limits: TELEMETRY_LIMITS }).type}`;
      } catch (e) {
        expected = (e as { code: string }).code;
      }
      const got = ingest.open(topics.heartbeat('site-a', 'gw1.example'), bytes, T0 + 1);
      const code = 'rejected' in got ? got.rejected : `ok ${got.message.type}`;
      if (code !== 'REPLAY' && code !== 'STALE') assert.is(code, expected);
    }),
    { numRuns: 400 },
  );
  await db.close();
});

test.run();
