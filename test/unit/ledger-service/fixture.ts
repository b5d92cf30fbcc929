/**
 * Test material for the ledger service: four validators with keys from fixed seeds, CommitRequests whose
 * placement targets really signed the transaction digest, and a block-time base.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { sign, signingKeyFromSeed } from '../../../shared/crypto/sign.ts';
import { SignerRegistry } from '../../../shared/ledger/index.ts';
import { transactionDigest, type BlockRecord, type CommitRequest } from '../../../shared/protocol/index.ts';
import type { ExecuteContext } from '../../../shared/consensus/index.ts';
import { encodeLedgerOp } from '../../../shared/ledger-service/index.ts';

export const sha = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest());

export interface TestKey {
  id: string;
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

export const keyOf = (id: string): TestKey => ({ id, ...signingKeyFromSeed(sha(`2baksa ledger-service test key ${id}`)) });
export const names = ['node0', 'node1', 'node2', 'node3'];
export const keys: TestKey[] = names.map(keyOf);
export const registry = new SignerRegistry(keys.map(({ id, publicKey }) => ({ id, publicKey })));
export const outsider = keyOf('outsider');

export const T0 = 1_700_000_000_000;
export const LIFETIME_MS = 10 * 60_000;

/** A CommitRequest for transaction `name`: 2 chunks in a 2+1 geometry on `targets`, signed by each target (or by `signers`). */
export function commitRequest(name: string, ts: number, options: { targets?: string[]; signers?: TestKey[]; account?: string } = {}): CommitRequest {
  const targets = options.targets ?? ['node0', 'node1', 'node2'];
  const shards = [0, 1].flatMap((c) => targets.map((node, index) => ({ chunk: sha(`chunk ${name}.${c}`), index, hash: sha(`shard ${name}.${c}.${index}`), node })));
  const content = {
    txId: sha(`tx ${name}`).subarray(0, 16),
    ts,
    account: options.account ?? 'acct.example.org',
    snapshotId: `snap-${name}`,
    manifestRoot: sha(`manifest ${name}`),
    dataShards: 2,
    parityShards: 1,
    shards,
  };
  const digest = transactionDigest(content);
  const signers = options.signers ?? targets.map(keyOf);
  const record: BlockRecord = { ...content, signatures: signers.map((k) => ({ signer: k.id, signature: sign(k.privateKey, digest) })) };
  return { txId: record.txId, record };
}

export const commitOp = (name: string, ts: number, options?: Parameters<typeof commitRequest>[2]): Uint8Array =>
  encodeLedgerOp({ op: 'commit', request: commitRequest(name, ts, options) });

export const ctx = (seq: number, timeMs: number, requestId = seq): ExecuteContext => ({ seq, client: 'c', requestId, timeMs });
