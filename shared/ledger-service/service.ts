/**
 * LedgerService: the thin shell that binds one replica's LedgerMachine (the PBFT Application), its
 * BlockCertifier and its LedgerStore.
 *
 *   replica actions ──observe──▶ machine.endBatch ─▶ sealed blocks ─▶ sign ─▶ certifier 'own'
 *   peer messages   ──receive──▶ certifier 'peer' / sync answers
 *   certifier actions ─▶ send(to | undefined = every peer, LedgerMessage); blockCertified ─▶ store.append
 *   tick()          ──────────▶ certifier 'tick' (retries, sync requests)
 *
 * Appends are serialized and happen in height order; a block reached by sync (LedgerSyncBlocks, verified
 * in full by store.append against the validator set) and a block certified here are the same block, so
 * whichever comes first is appended and the other skipped. `onBlock` runs after each block is durable.
 *
 * Transaction lookups (`lookup`, `answer`) cover the whole certified chain: an in-memory index of txId →
 * height built from the store at open and grown with each append (about 60 bytes per transaction). They
 * answer from one prefix: the index and `tip` move together, after the append is durable.
 */
import type { KeyObject } from 'node:crypto';
import type { LedgerAnswer, BlockCommitted } from '../commit/events.ts';
import { findRecord } from '../commit/deadline.ts';
import type { Action } from '../consensus/types.ts';
import { sign } from '../crypto/sign.ts';
import { blockHash, blockSigningBytes, encodeBlock, type Block } from '../ledger/block.ts';
import type { LedgerStore } from '../ledger/store.ts';
import type { ChainTip } from '../ledger/verify.ts';
import { silentLogger, type Logger } from '../log.ts';
import { bytesEqual } from '../protocol/digest.ts';
import { BlockCertifier, type BlockCertifierStatus, type CertifierAction } from './certifier.ts';
import type { LedgerMachine } from './machine.ts';
import type { LedgerMessage, LedgerSyncBlocks, LedgerSyncRequest } from './messages.ts';
import { ledgerServiceOptions, type LedgerServiceOptions } from './options.ts';

export interface LedgerServiceConfig {
  /** Our validator id (also the name peers answer us by). */
  self: string;
  /**
   * A storage member (shared/ledger/members.ts): no replica feeds the machine, so the chain comes by sync
   * alone (`syncNow`), and the node never signs a block nor answers for one.
   */
  follower?: boolean;
  privateKey: KeyObject;
  /** Opened for writing; its validator set is the cluster's. The caller closes it. */
  store: LedgerStore;
  /** The Application the replica executes. */
  machine: LedgerMachine;
  /** Sends to one peer, or to every other validator when `to` is undefined. */
  send(to: string | undefined, message: LedgerMessage): void;
  /** A block is durably in the store (height order). */
  onBlock?(block: Block): void;
  /** The store refused a block this replica certified (disk failure or a bug): stop the replica. */
  onFatal?(error: Error): void;
  options?: Parameters<typeof ledgerServiceOptions>[0];
  logger?: Logger;
}

export interface LedgerServiceStatus {
  /** Height of the last durable block; −1 for an empty chain. */
  storeHeight: number;
  /** Height of the last block the machine formed (maybe not certified yet). */
  machineHeight: number;
  certifier: BlockCertifierStatus;
  syncRequests: number;
  syncAppended: number;
  syncRefused: number;
}

const keyOf = (txId: Uint8Array): string => Buffer.from(txId).toString('hex');

/** The 2PC `blockCommitted` event of a durable block. */
export function blockCommittedOf(block: Block): BlockCommitted {
  return { kind: 'blockCommitted', height: block.height, blockHash: blockHash(block), timeMs: block.time, records: block.records };
}

export class LedgerService {
  readonly options: LedgerServiceOptions;
  readonly certifier: BlockCertifier;
  private readonly index = new Map<string, number>();
  private indexedTip: ChainTip | undefined;
  private appending: Promise<void> = Promise.resolve();
  private serving = false;
  private answering = false;
  private readonly reads = new Set<Promise<void>>();
  private syncPeer = 0;
  private failed: Error | undefined;
  private readonly counts = { syncRequests: 0, syncAppended: 0, syncRefused: 0 };
  private readonly log: Logger;

  private constructor(private readonly config: LedgerServiceConfig) {
    this.options = ledgerServiceOptions(config.options);
    this.log = config.logger ?? silentLogger;
    this.certifier = new BlockCertifier({
      self: config.self,
      registry: config.store.registry,
      follower: config.follower === true,
      nextHeight: config.store.length,
      options: this.options.certifier,
    });
  }

  /** Indexes the store's transactions, then takes whatever the machine already formed (a restored replica). */
  static async open(config: LedgerServiceConfig): Promise<LedgerService> {
    const service = new LedgerService(config);
    for await (const block of config.store.blocks()) service.indexBlock(block);
    service.pump();
    return service;
  }

  // ---- inputs -------------------------------------------------------------------------------------

  /** Give it the replica's actions (all of them, or just the informational ones). */
  observe(action: Action): void {
    if (action.type === 'execute') this.config.machine.endBatch(action.seq);
    if (action.type === 'execute' || action.type === 'state-transferred') this.pump();
  }

  /** A ledger message from peer `from` (already authenticated by its envelope). Bad content is dropped. */
  receive(from: string, message: LedgerMessage): void {
    switch (message.type) {
      case 'BlockSignature':
        if (!this.config.follower) this.perform(this.certifier.step({ type: 'peer', from, ...message.body }));
        break;
      case 'LedgerSyncRequest':
        this.serveSync(from, message.body);
        break;
      case 'LedgerSyncBlocks':
        this.takeSync(from, message.body);
        break;
      default: {
        const never: never = message;
        this.log.warn({ message: never }, 'unknown ledger message');
      }
    }
  }

  tick(): void {
    this.pump();
    this.perform(this.certifier.step({ type: 'tick' }));
  }

  /** Asks the next validator for the blocks past our tip (a follower's pull; a validator's gaps ask by themselves). */
  syncNow(): void {
    this.perform([{ type: 'syncNeeded', fromHeight: this.config.store.length }]);
  }

  // ---- queries ------------------------------------------------------------------------------------

  /** The certified block holding `txId`, if any. */
  lookup(txId: Uint8Array): { height: number } | undefined {
    const height = this.index.get(keyOf(txId));
    return height === undefined ? undefined : { height };
  }

  /** The last durable block. */
  tip(): ChainTip | undefined {
    return this.indexedTip;
  }

  /** The 2PC `queryLedger` answer, from one prefix of the certified chain. */
  async answer(txId: Uint8Array): Promise<LedgerAnswer> {
    const tip = this.indexedTip;
    const height = this.index.get(keyOf(txId));
    const base: LedgerAnswer = { kind: 'ledgerAnswer', txId, ...(tip ? { tipTimeMs: tip.time } : {}) };
    if (height === undefined) return base;
    const block = await this.config.store.block(height);
    const record = findRecord(block.records, txId);
    return record ? { ...base, committed: { height, blockHash: blockHash(block), record } } : base;
  }

  /** Resolves once no append and no store read (sync or signature answer) is in flight. */
  async idle(): Promise<void> {
    for (;;) {
      const appending = this.appending;
      const reads = [...this.reads];
      await Promise.all([appending, ...reads]);
      if (appending === this.appending && this.reads.size === 0) return;
    }
  }

  status(): LedgerServiceStatus {
    return {
      storeHeight: this.indexedTip?.height ?? -1,
      machineHeight: this.config.machine.tip()?.height ?? -1,
      certifier: this.certifier.status(),
      ...this.counts,
    };
  }

  // ---- internals ----------------------------------------------------------------------------------

  private pump(): void {
    for (const block of this.config.machine.takeBlocks()) {
      if (block.height < this.certifier.nextHeight) continue; // in the store already (a replayed batch)
      const signature = sign(this.config.privateKey, blockSigningBytes(blockHash(block)));
      this.perform(this.certifier.step({ type: 'own', block, signature }));
    }
    const tip = this.config.machine.tip();
    if (tip) this.perform(this.certifier.step({ type: 'formed', height: tip.height }));
  }

  private perform(actions: readonly CertifierAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'broadcastSignature':
          this.config.send(undefined, { type: 'BlockSignature', body: a.signature });
          break;
        case 'sendSignatures':
          for (const s of a.signatures) this.config.send(a.to, { type: 'BlockSignature', body: s });
          break;
        case 'answerFromStore':
          this.track(this.answerFromStore(a.to, a.height, a.hash));
          break;
        case 'blockCertified':
          this.enqueue([a.block], 'certified');
          break;
        case 'syncNeeded': {
          const peers = this.config.store.registry.ids().filter((id) => id !== this.config.self);
          const to = peers[this.syncPeer++ % peers.length];
          this.counts.syncRequests += 1;
          if (to !== undefined) this.config.send(to, { type: 'LedgerSyncRequest', body: { fromHeight: a.fromHeight, blocksMax: this.options.syncBlocksMax } });
          break;
        }
        default: {
          const never: never = a;
          throw new Error(`unknown certifier action ${JSON.stringify(never)}`);
        }
      }
    }
  }

  private enqueue(blocks: readonly Block[], source: 'certified' | 'sync'): void {
    this.appending = this.appending.then(async () => {
      let stored = -1;
      for (const block of blocks) if (await this.append(block, source)) stored = block.height;
      if (source === 'sync' && stored >= 0) this.perform(this.certifier.step({ type: 'stored', height: stored }));
    });
  }

  /** Appends the block if it is the store's next one; true when it did. */
  private async append(block: Block, source: 'certified' | 'sync'): Promise<boolean> {
    const store = this.config.store;
    if (this.failed || block.height !== store.length) return false; // already there (the other path won), or not next
    try {
      await store.append(block, source === 'certified'); // certified here: its signatures were checked as they came
    } catch (error) {
      if (source === 'sync') {
        this.counts.syncRefused += 1;
        this.log.warn({ height: block.height, err: error }, 'a synced block was refused');
        return false;
      }
      this.failed = error as Error;
      this.log.error({ height: block.height, err: error }, 'the ledger store refused a certified block');
      if (!this.config.onFatal) throw error;
      this.config.onFatal(this.failed);
      return false;
    }
    this.indexBlock(block);
    if (source === 'sync') this.counts.syncAppended += 1;
    this.config.onBlock?.(block);
    return true;
  }

  private indexBlock(block: Block): void {
    for (const r of block.records) this.index.set(keyOf(r.txId), block.height);
    this.indexedTip = { height: block.height, hash: blockHash(block), time: block.time };
  }

  /** Sends our certified blocks from `fromHeight` (one answer at a time; others are dropped, peers retry). */
  private serveSync(to: string, request: LedgerSyncRequest): void {
    if (this.serving || request.fromHeight >= this.config.store.length) return;
    this.serving = true;
    this.track((async () => {
      try {
        const blocks: Block[] = [];
        let bytes = 0;
        const end = Math.min(this.config.store.length, request.fromHeight + Math.min(request.blocksMax, this.options.syncBlocksMax));
        for (let h = request.fromHeight; h < end; h++) {
          const block = await this.config.store.block(h);
          bytes += encodeBlock(block).length;
          if (blocks.length > 0 && bytes > this.options.syncBytesMax) break;
          blocks.push(block);
        }
        this.config.send(to, { type: 'LedgerSyncBlocks', body: { blocks } });
      } catch (error) {
        this.log.warn({ err: error, to }, 'could not answer a ledger sync request');
      } finally {
        this.serving = false;
      }
    })());
  }

  private track(read: Promise<void>): void {
    this.reads.add(read);
    void read.finally(() => this.reads.delete(read));
  }

  private takeSync(_from: string, answer: LedgerSyncBlocks): void {
    this.enqueue([...answer.blocks].sort((a, b) => a.height - b.height), 'sync');
  }

  /**
   * Answers a `want` for a block we hold but no longer remember certifying (or took by sync): its stored
   * certificate plus our own signature. A certified block is the agreed one, so signing it is safe, and it
   * lets peers that formed it complete their certificate when we skipped it (state transfer).
   * One at a time, like sync answers: a peer asking for many old heights cannot queue up disk reads.
   */
  private async answerFromStore(to: string, height: number, hash: Uint8Array): Promise<void> {
    if (this.config.follower || this.answering || height >= this.config.store.length) return;
    this.answering = true;
    try {
      const block = await this.config.store.block(height);
      if (!bytesEqual(blockHash(block), hash)) return;
      const { self, privateKey } = this.config;
      const qc = block.qc.some((q) => q.signer === self) ? block.qc : [...block.qc, { signer: self, signature: sign(privateKey, blockSigningBytes(hash)) }];
      for (const q of qc) this.config.send(to, { type: 'BlockSignature', body: { height, hash, signer: q.signer, signature: q.signature } });
    } catch (error) {
      this.log.warn({ err: error, to, height }, 'could not answer a signature request from the store');
    } finally {
      this.answering = false;
    }
  }
}
