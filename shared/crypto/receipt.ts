/**
 * Migration receipts signed by a quorum of the aggregator nodes (DESIGN §6: "a receipt signed by a cloud
 * quorum").
 *
 * A receipt states that the cluster ordered a snapshot's record: cluster, account, snapshot, the
 * record's position in the ordered command log, the hash chain after it, how many chunks it names, and
 * how many replicas the cluster has. A node signs it only after checking, in its own copy of the ordered
 * log, that the command at that position is this snapshot's record and that the chain there is this one
 * (aggregator/node). It signs with its TLS key, under its `replica` certificate from the cluster CA, so
 * a gateway checks a receipt with the CA it already trusts for mutual TLS, without knowing the cluster's
 * consensus keys. A receipt is good with ⌈(n+f+1)/2⌉ valid signatures of distinct replicas (2f+1 of
 * 3f+1): no f faulty nodes can make one alone.
 */
import { X509Certificate, createPrivateKey, sign, verify, type KeyObject } from 'node:crypto';
import { quorumSize } from '../ledger/quorum.ts';
import { identityOf, roleOf } from './pki-identity.ts';

export const RECEIPT_DOMAIN = '2baksa/v1/cloud-receipt\u0000';

/** What a receipt states. */
export interface ReceiptFacts {
  cluster: string;
  account: string;
  snapshotId: string;
  position: number;
  /** Hex SHA-256 chain of the ordered log after `position`. */
  chain: string;
  chunks: number;
  /** Replicas of the cluster (n), which sets the quorum. */
  replicas: number;
}

export interface ReceiptSignature {
  node: string;
  /** The node's certificate (PEM), issued by the cluster CA with role `replica`. */
  certificate: string;
  /** Base64 signature over `receiptStatement`. */
  signature: string;
}

/** The bytes a node signs: a domain tag, then the facts in a fixed order. */
export function receiptStatement(f: ReceiptFacts): Buffer {
  return Buffer.from(RECEIPT_DOMAIN + JSON.stringify([1, f.cluster, f.account, f.snapshotId, f.position, f.chain, f.chunks, f.replicas]), 'utf8');
}

const digestOf = (key: KeyObject): string | null => (key.asymmetricKeyType === 'ed25519' ? null : 'sha256');

/** Signs a receipt with a node's TLS key and certificate (PEM). */
export function signReceipt(f: ReceiptFacts, tls: { cert: string; key: string }, node: string): ReceiptSignature {
  const key = createPrivateKey(tls.key);
  return { node, certificate: tls.cert, signature: sign(digestOf(key), receiptStatement(f), key).toString('base64') };
}

export interface ReceiptVerdict {
  /** Nodes whose signature is valid. */
  valid: string[];
  quorum: number;
  ok: boolean;
  /** Why the others were not counted. */
  problems: string[];
}

/** Checks a receipt's signatures against the cluster CA (PEM): distinct `replica` certificates it issued, valid now, each signature good. */
export function verifyReceipt(f: ReceiptFacts, signatures: readonly ReceiptSignature[], caPem: string, now = new Date()): ReceiptVerdict {
  const ca = new X509Certificate(caPem);
  const statement = receiptStatement(f);
  const valid: string[] = [];
  const problems: string[] = [];
  for (const s of signatures) {
    try {
      const cert = new X509Certificate(s.certificate);
      if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new Error('not issued by the cluster CA');
      if (roleOf(cert) !== 'replica') throw new Error('not a replica certificate');
      if (identityOf(cert) !== s.node) throw new Error(`the certificate names ${identityOf(cert) ?? 'nobody'}`);
      if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) throw new Error('the certificate is not valid now');
      if (valid.includes(s.node)) throw new Error('signed twice');
      if (!verify(digestOf(cert.publicKey), statement, cert.publicKey, Buffer.from(s.signature, 'base64'))) throw new Error('the signature does not verify');
      valid.push(s.node);
    } catch (error) {
      problems.push(`${s.node}: ${(error as Error).message}`);
    }
  }
  const quorum = quorumSize(Math.max(1, f.replicas));
  return { valid, quorum, ok: valid.length >= quorum, problems };
}
