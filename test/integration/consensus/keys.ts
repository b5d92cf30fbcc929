/**
 * Deterministic consensus keys for the integration tests and the benchmark: Ed25519 key pairs from
 * fixed seeds, or the simulator's fake signatures (test/sim/fake-crypto.ts) when a run measures the
 * shell without the cost of Ed25519. Either way every logical client of a link signs with the link's key.
 */
import { createHash } from 'node:crypto';
import type { Signer, Verifier } from '../../../shared/consensus/index.ts';
import { signingKeyFromSeed, type SigningKeyPair } from '../../../shared/crypto/sign.ts';
import { clientLinkOf } from '../../../shared/replica-node/index.ts';
import { FakeKeyring } from '../../sim/fake-crypto.ts';

export type CryptoKind = 'ed25519' | 'fake';

function seed(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`2baksa-integration-${label}`).digest());
}

export function replicaKey(id: number): SigningKeyPair {
  return signingKeyFromSeed(seed(`replica-${id}`));
}

export function linkKey(link: string): SigningKeyPair {
  return signingKeyFromSeed(seed(`client-${link}`));
}

const FAKE_SEED = 77;

export function fakeReplicaSigner(id: number): Signer {
  return new FakeKeyring(FAKE_SEED).replicaSigner(id);
}

export function fakeLinkSigner(link: string): Signer {
  return new FakeKeyring(FAKE_SEED).clientSigner(link);
}

export function fakeVerifier(): Verifier {
  const inner = new FakeKeyring(FAKE_SEED).verifier();
  return {
    verifyReplica: inner.verifyReplica,
    verifyClient: (client, data, sig) => inner.verifyClient(clientLinkOf(client), data, sig),
  };
}
