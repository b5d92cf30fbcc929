// Codecs: packed chunk lists and the manifest line format (property tests), the byte budget.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { packChunkList, unpackChunkList } from '../../../agent/catalog/index.ts';
import { LineSplitter, decodeEntry, decodeHeader, encodeEntry, encodeHeader, type ManifestEntry } from '../../../agent/manifest/index.ts';
import { INLINE_BYTES_MAX, MANIFEST_VERSION } from '../../../agent/manifest/model.ts';
import { ByteBudget } from '../../../agent/util/budget.ts';

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const chunkRef = fc.record({ id: hexId, length: fc.integer({ min: 0, max: 0xffffffff }) }).map((r) => ({ id: r.id, length: r.length }));

test('chunk lists pack and unpack (property)', () => {
  fc.assert(
    fc.property(fc.array(chunkRef, { maxLength: 50 }), (refs) => {
      assert.equal(unpackChunkList(packChunkList(refs)), refs);
    }),
  );
});

const entry: fc.Arbitrary<ManifestEntry> = fc
  .record({
    path: fc.string({ minLength: 1 }).map((s) => `/${s}`),
    kind: fc.constantFrom('file' as const, 'dir' as const, 'symlink' as const, 'fifo' as const),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.nat(),
    gid: fc.nat(),
    mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
    chunks: fc.array(fc.record({ id: hexId, length: fc.integer({ min: 1, max: 1 << 24 }) }), { maxLength: 5 }),
    inline: fc.option(fc.uint8Array({ minLength: 1, maxLength: INLINE_BYTES_MAX }).map((b) => Buffer.from(b)), { nil: undefined }),
    target: fc.string(),
    links: fc.boolean(),
    linkOf: fc.option(fc.string({ minLength: 1 }).map((s) => `/earlier/${s}`), { nil: undefined }),
  })
  .map((r) => {
    const e: ManifestEntry = { path: r.path, kind: r.kind, mode: r.mode, uid: r.uid, gid: r.gid, mtimeNs: r.mtimeNs, size: 0 };
    if (r.kind === 'file' && r.inline) {
      e.inline = r.inline;
      e.size = r.inline.length;
    } else if (r.kind === 'file') {
      e.chunks = r.chunks.map((c) => ({ id: c.id, length: c.length }));
      e.size = r.chunks.reduce((a, c) => a + c.length, 0);
    }
    if (r.kind === 'symlink') e.target = r.target;
    if (r.kind === 'file' && r.links) e.links = true;
    if (r.kind === 'file' && r.linkOf !== undefined) e.linkOf = r.linkOf;
    return e;
  });

test('manifest entries round-trip through lines split at any byte (property)', () => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (entries, cuts) => {
      const header = { v: MANIFEST_VERSION, snapshotId: 'ab', timeMs: 1, host: 'h', type: 'snapshot', paths: ['/x'] };
      const bytes = Buffer.from(encodeHeader(header) + entries.map(encodeEntry).join(''), 'utf8');
      const splitter = new LineSplitter();
      const lines: string[] = [];
      let at = 0;
      for (const c of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
        lines.push(...splitter.push(bytes.subarray(at, c)));
        at = c;
      }
      lines.push(...splitter.push(bytes.subarray(at)), ...splitter.finish());
      assert.equal(decodeHeader(lines[0]!), header);
      assert.equal(lines.slice(1).map(decodeEntry), entries);
    }),
  );
});

test('a manifest entry whose chunk lengths do not add up is refused', () => {
  const line = JSON.stringify({ p: '/a', k: 'f', m: 420, u: 0, g: 0, t: '1', s: 5, c: [['00'.repeat(32), 4]] });
  assert.throws(() => decodeEntry(line), /do not add up/);
  assert.throws(() => decodeHeader(JSON.stringify({ v: 99 })), /version/);
});

test('a small file inline: the manifest version before it still reads, and bad inline bytes are refused', () => {
  // Manifests written before small files were kept inline (version 1) restore as they did.
  assert.is(decodeHeader(JSON.stringify({ v: 1, snapshotId: 'ab', timeMs: 1, host: 'h', type: 'snapshot', paths: ['/x'] })).v, 1);
  const good = { p: '/a', k: 'f', m: 420, u: 0, g: 0, t: '1', s: 5, d: Buffer.from('hello').toString('base64') };
  assert.is(Buffer.from(decodeEntry(JSON.stringify(good)).inline!).toString(), 'hello');
  const bad: Array<[string, object, RegExp]> = [
    ['size', { ...good, s: 6 }, /do not match its size/],
    ['not base64', { ...good, d: 'aGVsbG8*' }, /do not match its size/],
    ['not canonical', { ...good, d: 'aGVsbG8' }, /do not match its size/],
    ['with chunks too', { ...good, c: [['00'.repeat(32), 5]] }, /bad inline/],
    ['on a directory', { ...good, k: 'd' }, /bad inline/],
    ['too large', { ...good, s: INLINE_BYTES_MAX + 1, d: Buffer.alloc(INLINE_BYTES_MAX + 1).toString('base64') }, /bad inline/],
    ['not a string', { ...good, d: 5 }, /bad inline/],
  ];
  for (const [why, line, message] of bad) assert.throws(() => decodeEntry(JSON.stringify(line)), message, why);
});

test('hard link marks are on files only, name another path, and are refused otherwise', () => {
  const file = { p: '/a', k: 'f', m: 420, u: 0, g: 0, t: '1', s: 0 };
  assert.equal(decodeEntry(JSON.stringify({ ...file, n: 1 })).links, true);
  assert.is(decodeEntry(JSON.stringify({ ...file, h: '/b' })).linkOf, '/b');
  const bad: Array<[string, object]> = [
    ['on a directory', { ...file, k: 'd', h: '/b' }],
    ['itself', { ...file, h: '/a' }],
    ['not a path', { ...file, h: 5 }],
    ['a bad mark', { ...file, n: 2 }],
  ];
  for (const [why, line] of bad) assert.throws(() => decodeEntry(JSON.stringify(line)), /bad hard link/, why);
});

test('a device entry carries its number; a number anywhere else, or a device without one, is refused', () => {
  const dev = { p: '/dev/null', k: 'c', m: 0o666, u: 0, g: 0, t: '1', s: 0, r: 259 };
  const e = decodeEntry(JSON.stringify(dev));
  assert.equal([e.kind, e.rdev], ['chardev', 259]);
  assert.equal(decodeEntry(encodeEntry({ ...e, kind: 'blockdev' })), { ...e, kind: 'blockdev' });
  const bad: Array<[string, object, RegExp]> = [
    ['no number', { ...dev, r: undefined }, /bad device number/],
    ['negative', { ...dev, r: -1 }, /bad device number/],
    ['not a number', { ...dev, r: '259' }, /bad device number/],
    ['on a file', { ...dev, k: 'f' }, /no device/],
  ];
  for (const [why, line, message] of bad) assert.throws(() => decodeEntry(JSON.stringify(line)), message, why);
});

test('the byte budget bounds bytes in flight and lets an oversized request through alone', async () => {
  const b = new ByteBudget(100);
  await b.acquire(60);
  let second = false;
  const p = b.acquire(60).then(() => (second = true));
  await new Promise((r) => setTimeout(r, 5));
  assert.not.ok(second);
  b.release(60);
  await p;
  assert.ok(second);
  b.release(60);
  await b.acquire(500); // larger than the budget, nothing else in flight
  assert.is(b.inFlightBytes, 500);
  b.release(500);
  assert.is(b.peakBytes, 500);
});

test.run();
