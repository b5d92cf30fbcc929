// PersistLog: group-committed records fold back on open, a torn last write is cut off (in any of its
// pages), damage refuses to open, batches go over zero-filled space, a version 1 log is rewritten,
// and compaction keeps the folded state (consensus/persistence.ts records).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyPersistRecord,
  batchDigest,
  emptyPersistedState,
  encodePersistRecord,
  type PersistedState,
  type PersistRecord,
  type PrePrepare,
  type Request,
} from '../../../shared/consensus/index.ts';
import { encodeFrame } from '../../../shared/ledger/frame.ts';
import { PERSIST_LOG_FILE, PERSIST_LOG_MAGIC, PersistLog, encodePersistBatch, foldedRecords } from '../../../shared/replica-node/index.ts';

const root = mkdtempSync(join(tmpdir(), 'baksa-persist-log-'));
let dirs = 0;
const freshDir = (): string => join(root, `d${dirs++}`);

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

function prePrepare(view: number, seq: number, opBytes = 8): PrePrepare {
  const batch: Request[] = [{ type: 'request', client: `c${view}`, requestId: seq, op: bytes(opBytes, seq & 0xff), sig: bytes(64, 3) }];
  return { type: 'pre-prepare', view, seq, digest: batchDigest(batch), timeMs: 1000 + seq, replica: view % 4, sig: bytes(64, 1), batch };
}

const entry = (view: number, seq: number): PersistRecord => ({
  kind: 'entry', entry: { seq, prePrepare: prePrepare(view, seq), preparedCert: undefined, commitCert: undefined },
});
const snapshot = (seq: number, size = 16): PersistRecord => ({
  kind: 'snapshot', seq, stateDigest: bytes(32, 7), snapshot: bytes(size, seq & 0xff), clientTable: bytes(4, 2),
});
const stable = (seq: number): PersistRecord => ({ kind: 'stable', seq, stateDigest: bytes(32, 7), proof: [] });
const view = (v: number, changing: boolean): PersistRecord => ({ kind: 'view', view: v, viewChanging: changing });

/** The folded state as bytes, so two states compare with one equality. */
function image(state: PersistedState): string {
  return foldedRecords(state).map((r) => Buffer.from(encodePersistRecord(r)).toString('hex')).join('|');
}

/** Writes `data` into the log file at `offset`, over what is there (a crash's leftovers, made by hand). */
function writeAt(path: string, data: Uint8Array, offset: number): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, data, 0, data.length, offset);
  closeSync(fd);
}

const batchOf = (records: readonly PersistRecord[]) => encodePersistBatch(records.map((r) => encodePersistRecord(r)));

function fold(records: readonly PersistRecord[]): PersistedState {
  const state = emptyPersistedState();
  for (const r of records) applyPersistRecord(state, r);
  return state;
}

test('records appended in batches fold back the same on open', async () => {
  const dir = freshDir();
  const records = [view(0, false), entry(0, 1), entry(0, 2), snapshot(16), view(1, true), entry(1, 3)];
  const log = await PersistLog.open(dir, { fsync: false });
  await log.append(records.slice(0, 2));
  await log.append(records.slice(2));
  assert.equal(log.stats.batches, 2);
  assert.equal(image(log.state), image(fold(records)));
  await log.close();
  const again = await PersistLog.open(dir);
  assert.equal(again.opened.records, records.length);
  assert.equal(again.opened.tornBytes, 0);
  assert.equal(image(again.state), image(fold(records)));
  assert.is(again.state.view, 1);
  assert.is(again.state.viewChanging, true);
  await again.close();
});

test('a fast disk is written from the thread; a slow one (its fastest of 8 writes too slow) through the pool, probed every 64 batches', async () => {
  const fast = await PersistLog.open(freshDir(), { fsync: true });
  for (let seq = 1; seq <= 5; seq++) await fast.append([entry(0, seq)]);
  assert.equal([fast.stats.threadWrites, fast.stats.poolWrites], [5, 0]);
  await fast.close();
  const pool = await PersistLog.open(freshDir(), { fsync: false, syncWriteMsMax: 0 });
  for (let seq = 1; seq <= 5; seq++) await pool.append([entry(0, seq)]);
  assert.equal([pool.stats.threadWrites, pool.stats.poolWrites], [0, 5]);
  await pool.close();
  // Every write is slower than a picosecond: after the first 8 (the samples), the log goes through the
  // pool, and measures from the thread again after 64 batches there (batches 1-8 and 73 of 130).
  const dir = freshDir();
  const slow = await PersistLog.open(dir, { fsync: false, syncWriteMsMax: 1e-9 });
  const records = Array.from({ length: 130 }, (_, i) => entry(0, i + 1));
  for (const r of records) await slow.append([r]);
  assert.equal([slow.stats.threadWrites, slow.stats.poolWrites], [9, 121]);
  assert.equal(image(slow.state), image(fold(records)));
  await slow.close();
  const again = await PersistLog.open(dir);
  assert.equal(image(again.state), image(fold(records)), 'both ways wrote the same file');
  await again.close();
});

test('a torn last write is cut off on open, whichever of its pages it kept, and appends continue after it', async () => {
  const torn = [
    { name: 'a prefix', keep: (b: Uint8Array) => b.subarray(0, b.length - 5) },
    { name: 'its last pages only', keep: (b: Uint8Array) => { const c = Uint8Array.from(b); c.fill(0, 0, 4096); return c; } },
    { name: 'all but a middle page', keep: (b: Uint8Array) => { const c = Uint8Array.from(b); c.fill(0, 4096, 8192); return c; } },
  ];
  for (const { name, keep } of torn) {
    const dir = freshDir();
    const log = await PersistLog.open(dir, { fsync: false });
    await log.append([entry(0, 1), entry(0, 2)]);
    const good = log.stats.bytes;
    await log.close();
    const path = join(dir, PERSIST_LOG_FILE);
    assert.ok(statSync(path).size > good, `${name}: no zero-filled space after the log`);
    const batch = batchOf([{ kind: 'entry', entry: { seq: 3, prePrepare: prePrepare(0, 3, 12_000), preparedCert: undefined, commitCert: undefined } }]);
    writeAt(path, keep(batch), good);
    const reopened = await PersistLog.open(dir, { fsync: false });
    assert.is(reopened.opened.records, 2, name);
    assert.ok(reopened.opened.tornBytes > 0 && reopened.opened.tornBytes <= batch.length, `${name}: torn ${reopened.opened.tornBytes}`);
    assert.is(reopened.stats.bytes, good, name);
    await reopened.append([entry(0, 4)]);
    await reopened.close();
    const last = await PersistLog.open(dir);
    assert.equal([...last.state.entries.keys()], [1, 2, 4], name);
    assert.is(last.opened.tornBytes, 0, name);
    await last.close();
  }
});

test('a damaged batch with a whole batch after it is corruption: the log refuses to open', async () => {
  const dir = freshDir();
  const log = await PersistLog.open(dir, { fsync: false });
  await log.append([entry(0, 1), entry(0, 2)]);
  await log.append([entry(0, 3)]);
  await log.close();
  const path = join(dir, PERSIST_LOG_FILE);
  const data = readFileSync(path);
  data[8 + 12 + 4 + 3] = data[8 + 12 + 4 + 3]! ^ 0xff; // inside the first batch's first record
  writeFileSync(path, data);
  try {
    await PersistLog.open(dir);
    assert.unreachable('opened a corrupt log');
  } catch (error) {
    assert.is((error as { code?: string }).code, 'PERSIST_LOG_CORRUPT');
  }
});

test('batches go over zero-filled space, and past its end when one does not fit', async () => {
  const dir = freshDir();
  const log = await PersistLog.open(dir, { fsync: false, preallocateBytes: 64 * 1024 });
  const records = Array.from({ length: 200 }, (_, i) => entry(0, i + 1));
  for (const r of records) await log.append([r]);
  assert.equal([log.stats.preallocatedWrites, log.stats.appendingWrites], [200, 0]);
  const big: PersistRecord = { kind: 'entry', entry: { seq: 201, prePrepare: prePrepare(0, 201, 200_000), preparedCert: undefined, commitCert: undefined } };
  await log.append([big]);
  assert.equal([log.stats.preallocatedWrites, log.stats.appendingWrites], [200, 1]);
  const bytes = log.stats.bytes;
  await log.close();
  const path = join(dir, PERSIST_LOG_FILE);
  const data = readFileSync(path);
  assert.ok(data.length > bytes, 'no zeros were written after the big batch');
  assert.ok(data.subarray(bytes).every((b) => b === 0), 'the space after the log is not all zeros');
  const again = await PersistLog.open(dir);
  assert.equal([again.opened.version, again.opened.tornBytes, again.opened.records], [2, 0, 201]);
  assert.equal(image(again.state), image(fold([...records, big])));
  await again.close();
});

test('a version 1 log (a frame per record) opens to the same state and is rewritten as version 2', async () => {
  const dir = freshDir();
  await (await PersistLog.open(dir)).close();
  const records = [view(0, false), entry(0, 1), snapshot(16), entry(0, 2)];
  const v1 = Uint8Array.from(PERSIST_LOG_MAGIC);
  v1[7] = 1;
  writeFileSync(join(dir, PERSIST_LOG_FILE), Buffer.concat([v1, ...records.map((r) => encodeFrame(encodePersistRecord(r)))]));
  const log = await PersistLog.open(dir);
  assert.equal([log.opened.version, log.opened.records, log.stats.compactions], [1, 4, 1]);
  assert.equal(image(log.state), image(fold(records)));
  await log.close();
  assert.equal([...readFileSync(join(dir, PERSIST_LOG_FILE)).subarray(0, 8)], [...PERSIST_LOG_MAGIC]);
  const again = await PersistLog.open(dir);
  assert.equal(again.opened.version, 2);
  assert.equal(image(again.state), image(fold(records)));
  await again.close();
});

test('a file that is not a persist log is refused', async () => {
  const dir = freshDir();
  await (await PersistLog.open(dir)).close();
  writeFileSync(join(dir, PERSIST_LOG_FILE), 'not a log at all');
  try {
    await PersistLog.open(dir);
    assert.unreachable('opened a foreign file');
  } catch (error) {
    assert.is((error as { code?: string }).code, 'PERSIST_LOG_FOREIGN');
  }
});

test('compaction after a stable checkpoint shrinks the file and keeps the folded state', async () => {
  const dir = freshDir();
  const log = await PersistLog.open(dir, { fsync: true, compactBytesMin: 20_000 });
  for (let seq = 1; seq <= 64; seq++) await log.append([entry(0, seq), snapshot(seq, 512)]);
  assert.is(await log.compactIfDue(), false, 'compacted without a stable checkpoint');
  await log.append([stable(48)]);
  const before = log.stats.bytes;
  const want = image(log.state);
  assert.is(await log.compactIfDue(), true);
  assert.ok(log.stats.bytes < before / 2, `${log.stats.bytes} not much below ${before}`);
  assert.is(log.stats.compactions, 1);
  assert.is(await log.compactIfDue(), false, 'compacted twice for one stable checkpoint');
  await log.append([entry(0, 65)]);
  await log.close();
  const again = await PersistLog.open(dir);
  const expected = fold([...Array.from({ length: 64 }, (_, i) => [entry(0, i + 1), snapshot(i + 1, 512)]).flat(), stable(48), entry(0, 65)]);
  assert.equal(image(again.state), image(expected));
  assert.is.not(image(again.state), want);
  assert.equal([...again.state.entries.keys()].sort((a, b) => a - b), Array.from({ length: 17 }, (_, i) => 49 + i));
  await again.close();
});

test('a batch is written once however often its entry is persisted, and reads back whole', async () => {
  const dir = freshDir();
  const pp = prePrepare(0, 1, 4096);
  const vote = (type: 'prepare' | 'commit', replica: number) => ({ type, view: 0, seq: 1, digest: pp.digest, replica, sig: bytes(64, replica) });
  const preparedCert = { prePrepare: pp, prepares: [vote('prepare', 1), vote('prepare', 2)] as never[] };
  const commitCert = { prePrepare: pp, commits: [vote('commit', 0), vote('commit', 1), vote('commit', 2)] as never[] };
  const log = await PersistLog.open(dir, { fsync: false });
  await log.append([{ kind: 'entry', entry: { seq: 1, prePrepare: pp, preparedCert: undefined, commitCert: undefined } }]);
  const afterFirst = log.stats.bytes;
  await log.append([{ kind: 'entry', entry: { seq: 1, prePrepare: pp, preparedCert, commitCert: undefined } }]);
  await log.append([{ kind: 'entry', entry: { seq: 1, prePrepare: pp, preparedCert, commitCert } }]);
  assert.ok(afterFirst > 4096, 'the first record lacks its batch');
  assert.ok(log.stats.bytes - afterFirst < 4096, `later records rewrote the batch (${log.stats.bytes - afterFirst} bytes)`);
  await log.close();
  const again = await PersistLog.open(dir);
  const e = again.state.entries.get(1)!;
  for (const p of [e.prePrepare!, e.preparedCert!.prePrepare, e.commitCert!.prePrepare]) {
    assert.equal(p.batch.length, 1);
    assert.equal(Buffer.from(p.batch[0]!.op), Buffer.from(pp.batch[0]!.op));
  }
  await again.compact();
  await again.close();
  const compacted = await PersistLog.open(dir);
  assert.equal(image(compacted.state), image(fold([{ kind: 'entry', entry: { seq: 1, prePrepare: pp, preparedCert, commitCert } }])));
  await compacted.close();
});

test('a batch reference with no batch before it is corruption', async () => {
  const dir = freshDir();
  await (await PersistLog.open(dir)).close();
  const dangling = { ...prePrepare(0, 5), batch: [] };
  writeFileSync(join(dir, PERSIST_LOG_FILE), Buffer.concat([PERSIST_LOG_MAGIC,
    batchOf([{ kind: 'entry', entry: { seq: 5, prePrepare: dangling, preparedCert: undefined, commitCert: undefined } }, view(1, false)])]));
  try {
    await PersistLog.open(dir);
    assert.unreachable('opened a log with a dangling batch reference');
  } catch (error) {
    assert.is((error as { code?: string }).code, 'PERSIST_LOG_CORRUPT');
  }
});

const recordArb: fc.Arbitrary<PersistRecord> = fc.oneof(
  fc.tuple(fc.nat(5), fc.boolean()).map(([v, c]) => view(v, c)),
  fc.tuple(fc.nat(5), fc.integer({ min: 1, max: 80 })).map(([v, s]) => entry(v, s)),
  fc.integer({ min: 0, max: 5 }).map((k) => snapshot(k * 16)),
  fc.integer({ min: 1, max: 5 }).map((k) => stable(k * 16)),
);

test('property: any record sequence, in any batching, with compactions, reopens to the in-memory fold', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.array(recordArb, { minLength: 1, maxLength: 6 }), fc.boolean()), { minLength: 1, maxLength: 8 }),
      async (batches) => {
        const dir = freshDir();
        const log = await PersistLog.open(dir, { fsync: false });
        const all: PersistRecord[] = [];
        for (const [batch, compact] of batches) {
          await log.append(batch);
          all.push(...batch);
          if (compact) await log.compact();
        }
        assert.equal(image(log.state), image(fold(all)));
        await log.close();
        const again = await PersistLog.open(dir, { fsync: false });
        const ok = image(again.state) === image(fold(all));
        await again.close();
        rmSync(dir, { recursive: true, force: true });
        return ok;
      },
    ),
    { numRuns: 40 },
  );
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
