// A site ledger made by hand for tests of ledger-verified migration: three gateways' keys, transaction
// records that commit real sealed objects (2+1 shards, hashed as the edge writes them), and blocks
// certified by a quorum of the gateways.
import { createHash } from 'node:crypto';
import { sign } from '../../shared/crypto/sign.ts';
import { splitIntoShards } from '../../shared/erasure/index.ts';
import { nextBlock, proofFor, signWithAll, type Block, type EdgeProof } from '../../shared/ledger/index.ts';
import { transactionDigest, type BlockRecord } from '../../shared/protocol/index.ts';
import { fixtureKey, type FixtureKey } from '../fixtures/ledger/make.ts';

export const siteGateways = ['gw-1', 'gw-2', 'gw-3'].map(fixtureKey);

const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

/**
 * The record of a 2+1 transaction committing `objects` (sealed chunk objects) for `account`, signed by its
 * targets (the three site gateways, or `fields.targets`).
 */
export function commitRecord(
  account: string,
  objects: readonly Uint8Array[],
  seed: string,
  fields: { snapshotId?: string; manifestRoot?: (ids: string[]) => Uint8Array; targets?: readonly FixtureKey[] } = {},
): { record: BlockRecord; ids: string[] } {
  const targets = fields.targets ?? siteGateways;
  const ids = objects.map((_, i) => Buffer.from(sha(Buffer.from(`${seed} chunk ${i}`))).toString('hex'));
  const shards = objects.flatMap((object, c) =>
    splitIntoShards(object, 2, 1).map((data, index) => ({ chunk: new Uint8Array(Buffer.from(ids[c]!, 'hex')), index, hash: sha(data), node: targets[index]!.id })),
  );
  const content = {
    txId: sha(Buffer.from(`tx ${seed}`)).subarray(0, 16),
    ts: 1_700_000_000_000,
    account,
    snapshotId: fields.snapshotId ?? `snap-${seed}`,
    manifestRoot: fields.manifestRoot?.(ids) ?? new Uint8Array(32),
    dataShards: 2,
    parityShards: 1,
    shards,
  };
  const digest = transactionDigest(content);
  return { record: { ...content, signatures: targets.map((g) => ({ signer: g.id, signature: sign(g.privateKey, digest) })) }, ids };
}

/** The next block holding `records`, certified by the first two gateways (the quorum of three). */
export function certifiedBlock(prev: Block | undefined, records: BlockRecord[]): Block {
  return signWithAll(nextBlock(prev, 1_700_000_000_000 + (prev ? prev.height + 1 : 0), records), siteGateways.slice(0, 2));
}

/** An edge proof of some records of one block. */
export function proofOf(site: string, block: Block, recordIndexes: readonly number[]): EdgeProof {
  const { height, prevHash, time, merkleRoot, qc } = block;
  return { site, blocks: [{ height, prevHash, time, merkleRoot, qc: [...qc], entries: recordIndexes.map((i) => ({ record: block.records[i]!, proof: proofFor(block.records, i) })) }] };
}

/** The site's validators as `sites register` and PUT /v1/sites take them. */
export const siteValidators = siteGateways.map((g) => ({ id: g.id, publicKey: Buffer.from(g.publicKey).toString('hex') }));
