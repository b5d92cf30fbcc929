/**
 * Quorums and the validator set. For n registered signers the chain tolerates f = ⌊(n−1)/3⌋ faulty ones and a
 * block needs ⌈(n+f+1)/2⌉ distinct registered signatures (DESIGN §5): 2f+1 when n = 3f+1, and a majority
 * that any two quorums share a correct signer in for the small edge sizes (n = 3 → 2).
 */
import { PUBLIC_KEY_BYTES } from '../crypto/sign.ts';
import { BaksaError, ExitCode } from '../errors.ts';
import { isValidSegment } from '../protocol/topics.ts';

export function faultsTolerated(n: number): number {
  return n < 1 ? 0 : Math.floor((n - 1) / 3);
}

export function quorumSize(n: number): number {
  return Math.ceil((n + faultsTolerated(n) + 1) / 2);
}

export interface ValidatorEntry {
  id: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

/** The validator set: signer id → Ed25519 public key. Immutable once built. */
export class SignerRegistry {
  private readonly keys: ReadonlyMap<string, Uint8Array>;

  constructor(entries: Iterable<ValidatorEntry>) {
    const keys = new Map<string, Uint8Array>();
    const seenKeys = new Set<string>();
    for (const { id, publicKey } of entries) {
      if (!isValidSegment(id)) throw invalid(`validator id ${JSON.stringify(id)} is not a valid node id`);
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
        throw invalid(`validator ${id} needs a ${PUBLIC_KEY_BYTES}-byte Ed25519 public key`);
      }
      if (keys.has(id)) throw invalid(`validator ${id} is listed twice`);
      const hex = Buffer.from(publicKey).toString('hex');
      if (seenKeys.has(hex)) throw invalid(`validator ${id} reuses another validator's public key`);
      seenKeys.add(hex);
      keys.set(id, new Uint8Array(publicKey));
    }
    if (keys.size === 0) throw invalid('the validator set is empty');
    this.keys = keys;
  }

  get size(): number {
    return this.keys.size;
  }

  get faults(): number {
    return faultsTolerated(this.keys.size);
  }

  get quorum(): number {
    return quorumSize(this.keys.size);
  }

  keyOf(id: string): Uint8Array | undefined {
    return this.keys.get(id);
  }

  has(id: string): boolean {
    return this.keys.has(id);
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  entries(): ValidatorEntry[] {
    return [...this.keys].map(([id, publicKey]) => ({ id, publicKey }));
  }
}

function invalid(message: string): BaksaError {
  return new BaksaError('VALIDATORS_INVALID', message, {
    exitCode: ExitCode.config,
    hint: 'fix the validator set (validators.json): distinct ids, one 32-byte Ed25519 public key each',
  });
}
