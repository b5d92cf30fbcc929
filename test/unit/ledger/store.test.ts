// The on-disk ledger: crash-safe appends, torn-tail recovery, corruption refused (DESIGN §10 "torn writes";
// STYLE "Files that matter are written write-temp, fsync, rename, fsync-dir").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaksaError } from '../../../shared/errors.ts';
import { LedgerStore, MAGIC, auditLedger, blockHash, encodeBlock, encodeFrame, ledgerPaths, signWithAll, type Block } from '../../../shared/ledger/index.ts';
import { goodChain, validators } from '../../fixtures/ledger/make.ts';

const root = mkdtempSync(join(tmpdir(), '2baksa-ledger-'));
let dirs = 0;
const freshDir = () => join(root, `l${dirs++}`);
const chain = goodChain(6);

async function storeWith(blocks: Block[]): Promise<string> {
  const dir = freshDir();
  const store = await LedgerStore.create(dir, validators);
  for (const b of blocks) await store.append(b);
  await store.close();
  return dir;
}

async function rejects(fn: () => Promise<unknown>, code: string): Promise<BaksaError> {
  try {
    await fn();
  } catch (error) {
    assert.instance(error, BaksaError, String(error));
    assert.is((error as BaksaError).code, code, (error as Error).message);
    return error as BaksaError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

test('create, append, reopen, read back', async () => {
  const dir = freshDir();
  const store = await LedgerStore.create(dir, validators);
  assert.is(store.height, -1);
  assert.is(store.length, 0);
  for (const b of chain.slice(0, 5)) await store.append(b);
  assert.is(store.height, 4);
  assert.equal(store.tipHash, blockHash(chain[4]!));
  await store.close();
  await rejects(() => LedgerStore.create(dir, validators), 'LEDGER_EXISTS');

  const again = await LedgerStore.open(dir);
  assert.is(again.length, 5);
  assert.is(again.tornTail, undefined);
  assert.equal(again.tip, { height: 4, hash: blockHash(chain[4]!), time: chain[4]!.time });
  const read: Block[] = [];
  for await (const b of again.blocks()) read.push(b);
  assert.equal(read, chain.slice(0, 5));
  assert.equal(await again.block(2), chain[2]);
  await again.append(chain[5]!);
  assert.is(again.height, 5);
  await again.close();
  const audit = await auditLedger(dir);
  assert.ok(audit.verdict.ok && audit.verdict.blocks === 6);
});

test('append verifies the block against the tip and leaves the store unchanged when refusing', async () => {
  const dir = await storeWith(chain.slice(0, 2));
  const store = await LedgerStore.open(dir);
  const sizeBefore = statSync(ledgerPaths(dir).blocksFile).size;
  const e1 = await rejects(() => store.append(chain[3]!), 'LEDGER_REJECTED');
  assert.is(e1.details?.reason, 'BAD_HEIGHT');
  const weak = { ...chain[2]!, qc: chain[2]!.qc.slice(0, 2) };
  const e2 = await rejects(() => store.append(weak), 'LEDGER_REJECTED');
  assert.is(e2.details?.reason, 'NO_QUORUM');
  assert.is(store.height, 1);
  assert.is(statSync(ledgerPaths(dir).blocksFile).size, sizeBefore);
  // concurrent appends are serialized in call order
  await Promise.all([store.append(chain[2]!), store.append(chain[3]!)]);
  assert.is(store.height, 3);
  await store.close();
  await rejects(() => store.append(chain[4]!), 'LEDGER_CLOSED');
  const ro = await LedgerStore.open(dir, { readOnly: true });
  await rejects(() => ro.append(chain[4]!), 'LEDGER_READ_ONLY');
  await ro.close();
});

test('a block formed here skips only its Ed25519 checks: height, links, Merkle root and quorum still hold', async () => {
  const dir = await storeWith(chain.slice(0, 2));
  const store = await LedgerStore.open(dir);
  const forged = { ...chain[2]!, qc: chain[2]!.qc.map((q) => ({ ...q, signature: new Uint8Array(64) })) };
  const e1 = await rejects(() => store.append(forged), 'LEDGER_REJECTED');
  assert.is(e1.details?.reason, 'BAD_SIGNATURE', 'a block from anywhere else has every signature checked');
  const e2 = await rejects(() => store.append(chain[3]!, true), 'LEDGER_REJECTED');
  assert.is(e2.details?.reason, 'BAD_HEIGHT');
  const e3 = await rejects(() => store.append({ ...chain[2]!, qc: chain[2]!.qc.slice(0, 2) }, true), 'LEDGER_REJECTED');
  assert.is(e3.details?.reason, 'NO_QUORUM');
  const e4 = await rejects(() => store.append({ ...chain[2]!, qc: [chain[2]!.qc[0]!, ...chain[2]!.qc.slice(0, -1)] }, true), 'LEDGER_REJECTED');
  assert.is(e4.details?.reason, 'DUPLICATE_SIGNER');
  const e5 = await rejects(() => store.append({ ...chain[2]!, records: chain[2]!.records.slice(1) }, true), 'LEDGER_REJECTED');
  assert.is(e5.details?.reason, 'BAD_MERKLE_ROOT');
  assert.is(store.height, 1);
  await store.append(forged, true); // its signatures were counted as they came: not checked again
  assert.is(store.height, 2);
  await store.close();
});

test('a torn last write, cut anywhere, is reported, cut off, and the chain continues', async () => {
  const good = await storeWith(chain.slice(0, 4));
  const frame = encodeFrame(encodeBlock(chain[4]!));
  const cuts = [1, 2, 3, 4, 5, 7, 8, 9, 10, 64, frame.length >> 1, frame.length - 2, frame.length - 1];
  for (const cut of cuts) {
    const dir = freshDir();
    const paths = ledgerPaths(dir);
    copyDir(good, dir);
    appendFileSync(paths.blocksFile, frame.subarray(0, cut));
    const sizeTorn = statSync(paths.blocksFile).size;

    const ro = await LedgerStore.open(dir, { readOnly: true });
    assert.is(ro.length, 4, `cut ${cut}`);
    assert.is(ro.tornTail?.bytes, cut);
    assert.is(ro.tornTail?.truncated, false);
    await ro.close();
    assert.is(statSync(paths.blocksFile).size, sizeTorn, 'read-only open leaves the file alone');

    const audit = await auditLedger(dir);
    assert.ok(audit.verdict.ok && audit.verdict.blocks === 4 && audit.tornTail?.bytes === cut, `audit cut ${cut}`);

    const store = await LedgerStore.open(dir);
    assert.is(store.tornTail?.truncated, true);
    assert.is(statSync(paths.blocksFile).size, sizeTorn - cut);
    await store.append(chain[4]!);
    await store.close();
    const after = await auditLedger(dir);
    assert.ok(after.verdict.ok && after.verdict.blocks === 5 && after.tornTail === undefined, `after cut ${cut}`);
  }
});

function copyDir(from: string, to: string): void {
  const a = ledgerPaths(from);
  const b = ledgerPaths(to);
  mkdirSync(to, { recursive: true });
  copyFileSync(a.blocksFile, b.blocksFile);
  copyFileSync(a.validatorsFile, b.validatorsFile);
}

test('zero-filled tails and a bad checksum in the last frame are torn; a bad frame in the middle is corruption', async () => {
  const dir = await storeWith(chain.slice(0, 3));
  const { blocksFile } = ledgerPaths(dir);
  const pristine = readFileSync(blocksFile);

  appendFileSync(blocksFile, new Uint8Array(5000));
  let store = await LedgerStore.open(dir);
  assert.is(store.tornTail?.why, 'zero-filled tail');
  assert.is(store.length, 3);
  await store.close();
  assert.equal(readFileSync(blocksFile), pristine);

  const last = Buffer.from(pristine);
  last[last.length - 3]! ^= 0x40;
  writeFileSync(blocksFile, last);
  store = await LedgerStore.open(dir);
  assert.is(store.length, 2);
  assert.match(store.tornTail?.why ?? '', /checksum/);
  await store.close();

  const middle = Buffer.from(pristine);
  middle[MAGIC.length + 8 + 30]! ^= 0x01;
  writeFileSync(blocksFile, middle);
  const e = await rejects(() => LedgerStore.open(dir), 'LEDGER_CORRUPT');
  assert.is(e.details?.height, 0);
  await rejects(() => LedgerStore.open(dir, { readOnly: true }), 'LEDGER_CORRUPT');
  assert.equal(readFileSync(blocksFile), middle, 'a corrupt ledger is never truncated');
  const audit = await auditLedger(dir);
  assert.ok(!audit.verdict.ok && audit.verdict.height === 0 && audit.verdict.reason === 'CORRUPT_BLOCK');
});

test('a torn creation, a foreign file and a missing validator set', async () => {
  const dir = await storeWith([]);
  const { blocksFile, validatorsFile } = ledgerPaths(dir);
  truncateSync(blocksFile, 3);
  const store = await LedgerStore.open(dir);
  assert.is(store.length, 0);
  await store.append(chain[0]!);
  await store.close();
  assert.ok((await auditLedger(dir)).verdict.ok);

  writeFileSync(blocksFile, 'hello, not a ledger');
  await rejects(() => LedgerStore.open(dir), 'LEDGER_FORMAT');
  await rejects(() => auditLedger(dir), 'LEDGER_FORMAT');
  writeFileSync(validatorsFile, '{"format":"2baksa-validators","version":1,"validators":[{"id":"a","publicKey":"zz"}]}');
  await rejects(() => LedgerStore.open(dir), 'VALIDATORS_INVALID');
  rmSync(validatorsFile);
  await rejects(() => LedgerStore.open(dir), 'VALIDATORS_MISSING');
  await rejects(() => auditLedger(join(root, 'nowhere')), 'LEDGER_NOT_FOUND');
});

test('a failed write is cut off before the next append', async () => {
  const dir = await storeWith(chain.slice(0, 1));
  const store = await LedgerStore.open(dir);
  const internal = store as unknown as { fh: { datasync: () => Promise<void> } };
  const realSync = internal.fh.datasync.bind(internal.fh);
  internal.fh.datasync = async () => {
    throw new Error('EIO (simulated)');
  };
  try {
    await store.append(chain[1]!);
    assert.unreachable('the failing sync should surface');
  } catch (error) {
    assert.match((error as Error).message, /EIO/);
  }
  assert.is(store.height, 0, 'the block is not counted');
  internal.fh.datasync = realSync;
  await store.append(chain[1]!);
  await store.append(signWithAll(chain[2]!, validators.slice(0, 3)));
  await store.close();
  const audit = await auditLedger(dir);
  assert.ok(audit.verdict.ok && audit.verdict.blocks === 3 && audit.tornTail === undefined);
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
