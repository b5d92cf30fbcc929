// Edge release notices (agent/edge/release.ts): what tells every member of a site to free the shards of a
// gateway's forgotten snapshots. A notice is signed by its gateway and refused otherwise; the shards a
// member frees are exactly those the ledger placed on it for the released chunks, before the notice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  RELEASE_CHUNKS_PER_PART,
  decodeNotice,
  encodeNotice,
  releasableShards,
  releaseParts,
  type AppliedNotice,
  type PlacedRecord,
  type ReleaseNotice,
} from '../../../agent/edge/release.ts';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { ProtocolError } from '../../../shared/protocol/errors.ts';
import type { BlockRecord } from '../../../shared/protocol/messages.ts';

const gw1 = generateSigningKey();
const gw2 = generateSigningKey();
const keyOf = (node: string) => ({ 'gw-1': gw1.publicKey, 'gw-2': gw2.publicKey })[node];
const id = () => randomBytes(32).toString('hex');
const notice = (chunks: string[], kind: ReleaseNotice['kind'] = 'forget'): ReleaseNotice => ({ kind, account: 'gw-1', node: 'gw-1', snapshotId: 'snap-a', chunks });

test('a notice round-trips through zero padding and is checked against its signer', () => {
  const n = notice([id(), id()]);
  const bytes = encodeNotice(n, gw1);
  const padded = new Uint8Array(bytes.length + 50);
  padded.set(bytes);
  assert.equal(decodeNotice(padded, keyOf), n);
  assert.equal(decodeNotice(bytes, keyOf), n);
  const relaid = notice([id()], 'relayout');
  assert.equal(decodeNotice(encodeNotice(relaid, gw1), keyOf), relaid);
});

test("a notice signed with another member's key, altered, or from a non-member is refused", () => {
  const forged = encodeNotice(notice([id()]), gw2); // gw-2 signs, the notice names gw-1
  assert.throws(() => decodeNotice(forged, keyOf), (e: Error) => e instanceof ProtocolError && e.code === 'BAD_SIGNATURE');
  const altered = Uint8Array.from(encodeNotice(notice([id()]), gw1));
  altered[20]! ^= 1;
  assert.throws(() => decodeNotice(altered, keyOf), (e: Error) => e instanceof ProtocolError);
  const stranger = encodeNotice({ ...notice([]), node: 'gw-9' }, gw1);
  assert.throws(() => decodeNotice(stranger, keyOf), (e: Error) => e instanceof ProtocolError && /not a member/.test(e.message));
});

test('random and mutated bytes only ever raise protocol errors', () => {
  const good = encodeNotice(notice([id(), id(), id()]), gw1);
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const b = Uint8Array.from(good);
      b[i]! ^= x;
      return b;
    })), (bytes) => {
      try {
        decodeNotice(bytes, keyOf);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
      }
    }),
    { numRuns: 400 },
  );
});

test('one notice per forgotten snapshot; dead chunks spread over them, more parts when they do not fit', () => {
  assert.equal(releaseParts([], [id()]), [], 'nothing forgotten, nothing released');
  const few = [id(), id()];
  assert.equal(releaseParts(['s1', 's2', 's3'], few), [{ snapshotId: 's1', chunks: few }, { snapshotId: 's2', chunks: [] }, { snapshotId: 's3', chunks: [] }]);
  const many = Array.from({ length: RELEASE_CHUNKS_PER_PART * 2 + 1 }, (_, i) => i.toString(16).padStart(64, '0'));
  const parts = releaseParts(['s1'], many);
  assert.equal(parts.map((p) => [p.snapshotId, p.chunks.length]), [['s1', RELEASE_CHUNKS_PER_PART], ['s1', RELEASE_CHUNKS_PER_PART], ['s1', 1]]);
  assert.equal(parts.flatMap((p) => p.chunks), many);
  assert.ok(encodeNotice({ ...notice(parts[0]!.chunks) }, gw1).length < 600 * 1024, 'a full part stays under 600 KiB');
});

// ---- which shards a member frees ----

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const hashOf = (label: string) => createHash('sha256').update(label).digest('hex');
function record(account: string, placements: Array<[chunk: string, node: string, shard: string]>): BlockRecord {
  return {
    txId: randomBytes(16),
    ts: 1,
    account,
    snapshotId: 'snap',
    manifestRoot: new Uint8Array(32),
    dataShards: 1,
    parityShards: 1,
    shards: placements.map(([chunk, node, shard], index) => ({ chunk: hex(chunk), index: index % 2, hash: hex(hashOf(shard)), node })),
    signatures: [],
  };
}
function chain(records: PlacedRecord[]): () => AsyncIterable<PlacedRecord> {
  return async function* () {
    yield* records;
  };
}

test('a member frees the shards placed on it for released chunks before the notice, and nothing else', async () => {
  const [x, y, z] = [id(), id(), id()];
  const records: PlacedRecord[] = [
    { height: 1, record: record('gw-1', [[x, 'gw-2', 'x0'], [x, 'gw-3', 'x1'], [y, 'gw-2', 'y0'], [y, 'gw-3', 'y1']]) },
    // Another account's chunk whose shard has the same bytes as one of x's (all-zero padding, say).
    { height: 2, record: record('gw-3', [[z, 'gw-2', 'x0'], [z, 'gw-1', 'z1']]) },
    // gw-1 relays x out later (a rebalance): those shards go too.
    { height: 3, record: record('gw-1', [[x, 'gw-2', 'x0-moved'], [x, 'gw-1', 'x1-moved']]) },
    // After the notice the same chunk id comes back, sealed anew: new shards stay.
    { height: 6, record: record('gw-1', [[x, 'gw-2', 'x0-new'], [x, 'gw-3', 'x1-new']]) },
  ];
  const notices: AppliedNotice[] = [{ height: 5, notice: notice([x]) }];
  const onGw2 = await releasableShards('gw-2', notices, chain(records));
  assert.equal([...onGw2].sort(), [hashOf('x0-moved')].sort(), "x0 stays (gw-3's chunk holds the same bytes), y0 and x0-new stay");
  const onGw3 = await releasableShards('gw-3', notices, chain(records));
  assert.equal([...onGw3], [hashOf('x1')]);
  const onGw1 = await releasableShards('gw-1', notices, chain(records));
  assert.equal([...onGw1], [hashOf('x1-moved')]);
  // A notice naming gw-3's chunk under gw-1's account frees nothing of gw-3.
  const none = await releasableShards('gw-1', [{ height: 5, notice: notice([z]) }], chain(records));
  assert.is(none.size, 0);
});

test('a relayout notice frees the earlier layouts of a chunk and keeps the latest', async () => {
  const [x, y] = [id(), id()];
  const records: PlacedRecord[] = [
    { height: 1, record: record('gw-1', [[x, 'gw-2', 'x-first'], [x, 'gw-3', 'x-first-p'], [y, 'gw-2', 'y0'], [y, 'gw-3', 'y1']]) },
    // gw-3 was gone: a repair laid x out as 1+1 on gw-1 and gw-2.
    { height: 2, record: record('gw-1', [[x, 'gw-1', 'x-repaired'], [x, 'gw-2', 'x-repaired-p']]) },
    // All back: rebalance, the latest layout.
    { height: 3, record: record('gw-1', [[x, 'gw-2', 'x-now'], [x, 'gw-3', 'x-now-p']]) },
  ];
  const notices: AppliedNotice[] = [{ height: 4, notice: notice([x], 'relayout') }];
  assert.equal([...(await releasableShards('gw-2', notices, chain(records)))].sort(), [hashOf('x-first'), hashOf('x-repaired-p')].sort());
  assert.equal([...(await releasableShards('gw-3', notices, chain(records)))], [hashOf('x-first-p')]);
  assert.equal([...(await releasableShards('gw-1', notices, chain(records)))], [hashOf('x-repaired')]);
  // A layout committed after the notice is not its business.
  const later: PlacedRecord[] = [...records, { height: 5, record: record('gw-1', [[x, 'gw-2', 'x-after'], [x, 'gw-3', 'x-after-p']]) }];
  assert.equal([...(await releasableShards('gw-2', notices, chain(later)))].sort(), [hashOf('x-first'), hashOf('x-repaired-p')].sort());
});

test.run();
