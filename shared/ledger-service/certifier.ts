/**
 * BlockCertifier: a pure state machine that gathers a quorum of validator signatures over each block this
 * replica formed, and hands out certified blocks in height order (the shell appends them to its store).
 *
 *   own     we formed `block` and signed its hash: broadcast the signature, count it.
 *   peer    a BlockSignature: counted only if its signer is a registered validator, the signature verifies
 *           over the hash it names, and that hash is the hash of *our* block at that height. The first
 *           verified signature per (height, signer) is kept, so a validator that signs two hashes (a
 *           Byzantine or diverged replica) never counts for the other one. Signatures that arrive before
 *           our own block wait (for at most `heightsAheadMax` heights).
 *   stored  the store got blocks up to `height` another way (sync): forget those rounds.
 *   formed  the machine's chain reaches `height`: if the store is behind it and the block at the store's
 *           next height will never come as `own` (a restore skipped it), ask peers to sync.
 *   tick    re-broadcast our signature with `want` while a block waits for its certificate; peers answer
 *           a `want` with the signatures they hold (or, for old heights, the shell answers from its store).
 * A block is certified once ⌈(n+f+1)/2⌉ distinct registered validators signed its hash (ledger/quorum.ts);
 * its certificate holds every matching signature gathered by then, sorted by signer.
 * No I/O, no clock: signing is the shell's (it passes the signature in `own`).
 */
import { assert } from '../errors.ts';
import { verify } from '../crypto/sign.ts';
import { blockHash, blockSigningBytes, type Block, type QuorumSignature, type UnsignedBlock } from '../ledger/block.ts';
import { withQc } from '../ledger/build.ts';
import type { SignerRegistry } from '../ledger/quorum.ts';
import { bytesEqual } from '../protocol/digest.ts';
import type { BlockSignature } from './messages.ts';
import { blockCertifierOptions, type BlockCertifierOptions } from './options.ts';

export interface BlockCertifierConfig {
  /** Our validator id. */
  self: string;
  registry: SignerRegistry;
  /** A storage member's ledger (members.ts): it follows the chain by sync and never signs. */
  follower?: boolean;
  /** The first height the store does not hold yet (store.length). */
  nextHeight: number;
  options?: Partial<BlockCertifierOptions>;
}

export type CertifierEvent =
  | { type: 'own'; block: UnsignedBlock; signature: Uint8Array }
  /** `from`: where to answer a `want` (default: the signer). */
  | ({ type: 'peer'; from?: string } & BlockSignature)
  | { type: 'stored'; height: number }
  | { type: 'formed'; height: number }
  | { type: 'tick' };

export type CertifierAction =
  | { type: 'broadcastSignature'; signature: BlockSignature }
  | { type: 'sendSignatures'; to: string; signatures: BlockSignature[] }
  /** A peer wants signatures for a block we certified too long ago to remember: answer from the store. */
  | { type: 'answerFromStore'; to: string; height: number; hash: Uint8Array }
  | { type: 'blockCertified'; block: Block }
  | { type: 'syncNeeded'; fromHeight: number };

export type CertifierReject = 'unknown-signer' | 'out-of-window' | 'bad-signature' | 'hash-mismatch';

interface Vote {
  hash: Uint8Array;
  signature: Uint8Array;
}

interface Round {
  block?: UnsignedBlock;
  hash?: Uint8Array;
  /** First verified signature per signer (ours included once we have the block). */
  readonly votes: Map<string, Vote>;
  waitedTicks: number;
  certified?: Block;
}

export interface BlockCertifierStatus {
  nextHeight: number;
  rounds: number;
  certified: number;
  rejected: Partial<Record<CertifierReject, number>>;
  /** Validators whose verified signature named another hash than our block's (Byzantine or diverged), with counts. */
  mismatches: Record<string, number>;
}

export class BlockCertifier {
  readonly options: BlockCertifierOptions;
  private nextHeightState: number;
  private readonly rounds = new Map<number, Round>();
  private readonly recent = new Map<number, { hash: Uint8Array; qc: QuorumSignature[] }>();
  private formedHeight = -1;
  /** Ticks since we last asked for a sync; −1 while there is no gap. */
  private gapTicks = -1;
  private certifiedCount = 0;
  private readonly rejected: Partial<Record<CertifierReject, number>> = {};
  private readonly mismatches = new Map<string, number>();
  private out: CertifierAction[] = [];

  constructor(private readonly config: BlockCertifierConfig) {
    assert(config.follower === true || config.registry.has(config.self), `${config.self} is not in the validator set`);
    this.options = blockCertifierOptions(config.options);
    this.nextHeightState = config.nextHeight;
  }

  get nextHeight(): number {
    return this.nextHeightState;
  }

  status(): BlockCertifierStatus {
    return { nextHeight: this.nextHeightState, rounds: this.rounds.size, certified: this.certifiedCount, rejected: { ...this.rejected }, mismatches: Object.fromEntries(this.mismatches) };
  }

  step(event: CertifierEvent): CertifierAction[] {
    switch (event.type) {
      case 'own':
        this.onOwn(event.block, event.signature);
        break;
      case 'peer':
        this.onPeer(event, event.from ?? event.signer);
        break;
      case 'stored':
        this.onStored(event.height);
        break;
      case 'formed':
        this.formedHeight = Math.max(this.formedHeight, event.height);
        this.checkGap(false);
        break;
      case 'tick':
        this.onTick();
        break;
      default: {
        const never: never = event;
        throw new Error(`unknown certifier event ${JSON.stringify(never)}`);
      }
    }
    const out = this.out;
    this.out = [];
    return out;
  }

  private onOwn(block: UnsignedBlock, signature: Uint8Array): void {
    if (block.height < this.nextHeightState) return; // already in the store
    const hash = blockHash(block);
    const round = this.round(block.height);
    if (round.hash) {
      assert(bytesEqual(round.hash, hash), `two different own blocks at height ${block.height}`);
      return;
    }
    round.block = block;
    round.hash = hash;
    round.votes.set(this.config.self, { hash, signature });
    for (const [signer, vote] of round.votes) if (!bytesEqual(vote.hash, hash)) this.reject('hash-mismatch', signer);
    this.formedHeight = Math.max(this.formedHeight, block.height);
    this.out.push({ type: 'broadcastSignature', signature: this.ownSignature(block.height, hash, signature) });
    this.tryCertify(round);
    this.release();
    this.checkGap(false);
  }

  private onPeer(sig: BlockSignature, from: string): void {
    const { height, hash, signer, signature } = sig;
    const key = this.config.registry.keyOf(signer);
    if (!key) return this.reject('unknown-signer', signer);
    if (signer === this.config.self) return; // our own, back in a peer's answer
    if (height < this.nextHeightState) {
      if (sig.want) this.answer(from, height, hash);
      return;
    }
    if (height >= this.nextHeightState + this.options.heightsAheadMax) return this.reject('out-of-window', signer);
    const round = this.round(height);
    if (!round.votes.has(signer)) {
      if (!verify(key, blockSigningBytes(hash), signature)) return this.reject('bad-signature', signer);
      round.votes.set(signer, { hash, signature });
      if (round.hash && !bytesEqual(round.hash, hash)) this.reject('hash-mismatch', signer);
      this.tryCertify(round);
      this.release();
    }
    if (sig.want) this.answer(from, height, hash);
  }

  private onStored(height: number): void {
    for (const h of [...this.rounds.keys()]) if (h <= height) this.rounds.delete(h);
    if (height >= this.nextHeightState) this.nextHeightState = height + 1;
    this.release();
    this.gapTicks = -1; // progress: ask for the rest at once
    this.checkGap(false);
  }

  private onTick(): void {
    for (const [height, round] of this.rounds) {
      if (!round.block || !round.hash || round.certified) continue;
      round.waitedTicks += 1;
      if (round.waitedTicks < this.options.retryTicks) continue;
      round.waitedTicks = 0;
      const own = round.votes.get(this.config.self)!;
      this.out.push({ type: 'broadcastSignature', signature: { ...this.ownSignature(height, round.hash, own.signature), want: true } });
    }
    this.checkGap(true);
  }

  /** The store's next block will not come from our machine (a restore skipped it): ask at once, then every retryTicks. */
  private checkGap(onTick: boolean): void {
    const next = this.nextHeightState;
    if (this.formedHeight < next || this.rounds.get(next)?.block) {
      this.gapTicks = -1;
      return;
    }
    if (this.gapTicks >= 0 && !onTick) return;
    if (this.gapTicks >= 0 && ++this.gapTicks < this.options.retryTicks) return;
    this.gapTicks = 0;
    this.out.push({ type: 'syncNeeded', fromHeight: next });
  }

  /** Answers a `want` with the signatures we hold for that block, if our block has that hash. */
  private answer(to: string, height: number, hash: Uint8Array): void {
    const remembered = this.recent.get(height);
    if (remembered) {
      if (bytesEqual(remembered.hash, hash)) {
        this.out.push({ type: 'sendSignatures', to, signatures: remembered.qc.map((q) => ({ height, hash, signer: q.signer, signature: q.signature })) });
      }
      return;
    }
    const round = this.rounds.get(height);
    if (round) {
      if (!round.hash || !bytesEqual(round.hash, hash)) return;
      const signatures: BlockSignature[] = [];
      for (const [signer, vote] of round.votes) if (bytesEqual(vote.hash, hash)) signatures.push({ height, hash, signer, signature: vote.signature });
      this.out.push({ type: 'sendSignatures', to, signatures });
      return;
    }
    if (height < this.nextHeightState) this.out.push({ type: 'answerFromStore', to, height, hash });
  }

  private tryCertify(round: Round): void {
    if (round.certified || !round.block || !round.hash) return;
    const qc: QuorumSignature[] = [];
    for (const [signer, vote] of round.votes) if (bytesEqual(vote.hash, round.hash)) qc.push({ signer, signature: vote.signature });
    if (qc.length < this.config.registry.quorum) return;
    qc.sort((a, b) => (a.signer < b.signer ? -1 : a.signer > b.signer ? 1 : 0));
    round.certified = withQc(round.block, qc);
  }

  /** Emits certified blocks from nextHeight on, in order, and remembers their certificates for a while. */
  private release(): void {
    for (;;) {
      const height = this.nextHeightState;
      const round = this.rounds.get(height);
      if (!round?.certified) return;
      this.out.push({ type: 'blockCertified', block: round.certified });
      this.recent.set(height, { hash: round.hash!, qc: round.certified.qc });
      if (this.recent.size > this.options.certifiedKeptMax) this.recent.delete(this.recent.keys().next().value!);
      this.rounds.delete(height);
      this.nextHeightState = height + 1;
      this.certifiedCount += 1;
    }
  }

  private round(height: number): Round {
    let round = this.rounds.get(height);
    if (!round) {
      round = { votes: new Map(), waitedTicks: 0 };
      this.rounds.set(height, round);
    }
    return round;
  }

  private ownSignature(height: number, hash: Uint8Array, signature: Uint8Array): BlockSignature {
    return { height, hash, signer: this.config.self, signature };
  }

  private reject(reason: CertifierReject, signer: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    if (reason === 'hash-mismatch') this.mismatches.set(signer, (this.mismatches.get(signer) ?? 0) + 1);
  }
}
