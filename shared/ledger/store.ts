/**
 * LedgerStore: one node's copy of the chain on disk (files.ts, frame.ts), append-only and crash-safe.
 *
 * open   reads the validator set, walks the block log, checks the hash links, indexes frame offsets, and
 *        cuts off a torn tail (a writer) or just reports it (read-only). Corruption before the tail is
 *        an error (LEDGER_CORRUPT): committed blocks are never dropped silently.
 *        It also learns the storage members the chain admitted (members.ts: `admitted`).
 * append verifies the block in full against the tip (verify.ts), writes its frame with one positional write
 *        and fdatasyncs before it returns; appends are serialized. After a failed write the next append first
 *        truncates the file back to the last good frame. A block this process formed and certified itself
 *        (`formedHere`: its records' signatures checked when they were ordered, each certificate signature
 *        when it was counted) skips those Ed25519 checks, not the links, Merkle root or quorum count:
 *        about a third of an edge gateway's ledger signature checks, done twice before.
 * One process writes a ledger at a time; the caller owns that (the node's own data directory).
 */
import { mkdir, stat } from 'node:fs/promises';
import { BaksaError, ExitCode } from '../errors.ts';
import { blockHash, encodeBlock, decodeBlock, type Block } from './block.ts';
import { openBlockLog, readBlocks } from './blocklog.ts';
import { encodeValidators, ledgerPaths, readValidators, writeFileAtomic, type LedgerPaths } from './files.ts';
import { defaultFrameBytesMax, encodeFrame, FRAME_HEADER_BYTES, MAGIC } from './frame.ts';
import { AdmittedKeys } from './members.ts';
import { SignerRegistry, type ValidatorEntry } from './quorum.ts';
import { bytesEqual } from '../protocol/digest.ts';
import { defaultLedgerVerifyOptions, verifyBlock, type ChainTip, type LedgerVerifyOptions } from './verify.ts';
import type { FileHandle } from 'node:fs/promises';

export interface LedgerStoreOptions {
  /** Open without writing: a torn tail is reported, not cut off, and append is refused. */
  readOnly: boolean;
  frameBytesMax: number;
  /** What append checks. */
  verify: LedgerVerifyOptions;
}

export const defaultLedgerStoreOptions: LedgerStoreOptions = Object.freeze({
  readOnly: false,
  frameBytesMax: defaultFrameBytesMax,
  verify: defaultLedgerVerifyOptions,
});

export interface TornTail {
  offset: number;
  bytes: number;
  why: string;
  /** True when open cut it off. */
  truncated: boolean;
}

function corrupt(file: string, message: string, details: Record<string, unknown>): BaksaError {
  return new BaksaError('LEDGER_CORRUPT', `${file}: ${message}`, {
    exitCode: ExitCode.data,
    hint: 'run `2baksa ledger verify` on it, and restore the ledger from another node',
    details,
  });
}

const FORMED_HERE: LedgerVerifyOptions = Object.freeze({ recordSignatures: false, certificateSignatures: false });

export class LedgerStore {
  private offsets: number[] = [];
  private end: number;
  private tipState: ChainTip | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private dirty = false;
  private closed = false;
  /** The storage members admitted by the stored blocks (members.ts), grown with each append. */
  readonly admitted = new AdmittedKeys();

  private constructor(
    readonly paths: LedgerPaths,
    readonly registry: SignerRegistry,
    readonly options: LedgerStoreOptions,
    private readonly fh: FileHandle,
    size: number,
    /** The torn tail found on open, if any. */
    readonly tornTail: TornTail | undefined,
  ) {
    this.end = size;
  }

  /** Creates an empty ledger in `dir` (made if missing). Refuses if a block log is already there. */
  static async create(dir: string, validators: readonly ValidatorEntry[] | SignerRegistry, options: Partial<LedgerStoreOptions> = {}): Promise<LedgerStore> {
    const registry = validators instanceof SignerRegistry ? validators : new SignerRegistry(validators);
    const paths = ledgerPaths(dir);
    await mkdir(dir, { recursive: true });
    if (await stat(paths.blocksFile).catch(() => undefined)) {
      throw new BaksaError('LEDGER_EXISTS', `a ledger already exists in ${dir}`, { exitCode: ExitCode.usage, hint: 'open it instead, or choose another directory' });
    }
    await writeFileAtomic(paths.validatorsFile, encodeValidators(registry.entries()));
    await writeFileAtomic(paths.blocksFile, MAGIC);
    return LedgerStore.openPaths(paths, options);
  }

  static async open(dir: string, options: Partial<LedgerStoreOptions> = {}): Promise<LedgerStore> {
    return LedgerStore.openPaths(ledgerPaths(dir), options);
  }

  static async openPaths(paths: LedgerPaths, options: Partial<LedgerStoreOptions> = {}): Promise<LedgerStore> {
    const opts: LedgerStoreOptions = { ...defaultLedgerStoreOptions, ...options };
    const registry = await readValidators(paths.validatorsFile);
    const log = await openBlockLog(paths.blocksFile, opts.readOnly ? 'r' : 'r+');
    try {
      const offsets: number[] = [];
      let tip: ChainTip | undefined;
      let end = log.tornMagic ? 0 : MAGIC.length;
      let torn: Omit<TornTail, 'truncated'> | undefined;
      const admitted = new AdmittedKeys();
      for await (const event of readBlocks(log, opts.frameBytesMax)) {
        if (event.kind === 'torn') {
          torn = event;
          break;
        }
        if (event.kind === 'corrupt') throw corrupt(paths.blocksFile, `${event.why} at byte ${event.offset}`, { offset: event.offset, height: offsets.length });
        const { block } = event;
        const height = offsets.length;
        if (block.height !== height || !bytesEqual(block.prevHash, tip?.hash ?? new Uint8Array(32))) {
          throw corrupt(paths.blocksFile, `block at byte ${event.offset} does not extend block ${height - 1}`, { offset: event.offset, height });
        }
        offsets.push(event.offset);
        admitted.learn(block.records, height);
        tip = { height, hash: blockHash(block), time: block.time };
        end = event.offset + FRAME_HEADER_BYTES + event.length;
      }
      let tornTail: TornTail | undefined;
      if (torn) {
        tornTail = { ...torn, truncated: !opts.readOnly };
        if (!opts.readOnly) {
          if (log.tornMagic) {
            await log.fh.truncate(0);
            await log.fh.write(MAGIC, 0, MAGIC.length, 0);
            end = MAGIC.length;
          } else {
            await log.fh.truncate(end);
          }
          await log.fh.sync();
        }
      }
      const store = new LedgerStore(paths, registry, opts, log.fh, end, tornTail);
      store.offsets = offsets;
      store.tipState = tip;
      for (const m of admitted.members()) store.admitted.admit(m);
      return store;
    } catch (error) {
      await log.fh.close();
      throw error;
    }
  }

  /** Number of blocks. */
  get length(): number {
    return this.offsets.length;
  }

  /** Height of the last block; −1 while the ledger is empty. */
  get height(): number {
    return this.offsets.length - 1;
  }

  get tip(): ChainTip | undefined {
    return this.tipState;
  }

  get tipHash(): Uint8Array | undefined {
    return this.tipState?.hash;
  }

  /**
   * Verifies `block` against the tip and appends it durably. Throws LEDGER_REJECTED naming the reason.
   * `formedHere`: the caller built the block from records it verified and a certificate whose every
   * signature it verified (the ledger service's own blocks, never one from a peer).
   */
  append(block: Block, formedHere = false): Promise<void> {
    const run = this.queue.then(() => this.appendNow(block, formedHere));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async appendNow(block: Block, formedHere: boolean): Promise<void> {
    if (this.closed) throw new BaksaError('LEDGER_CLOSED', 'the ledger is closed');
    if (this.options.readOnly) throw new BaksaError('LEDGER_READ_ONLY', 'the ledger was opened read-only');
    const verify = formedHere ? FORMED_HERE : this.options.verify;
    const problem = verifyBlock(block, this.tipState, this.registry, verify, this.admitted);
    if (problem) {
      throw new BaksaError('LEDGER_REJECTED', `block ${block.height} rejected: ${problem.message} [${problem.reason}]`, {
        details: { height: block.height, reason: problem.reason },
        hint: 'only a block that extends the tip with a valid quorum certificate can be appended',
      });
    }
    const frame = encodeFrame(encodeBlock(block));
    if (frame.length - FRAME_HEADER_BYTES > this.options.frameBytesMax) {
      throw new BaksaError('LEDGER_REJECTED', `block ${block.height} is ${frame.length} bytes, over the ${this.options.frameBytesMax}-byte limit`);
    }
    if (this.dirty) {
      await this.fh.truncate(this.end);
      this.dirty = false;
    }
    try {
      let done = 0;
      while (done < frame.length) {
        const { bytesWritten } = await this.fh.write(frame, done, frame.length - done, this.end + done);
        done += bytesWritten;
      }
      await this.fh.datasync();
    } catch (error) {
      this.dirty = true;
      throw error;
    }
    this.offsets.push(this.end);
    this.admitted.learn(block.records, block.height);
    this.end += frame.length;
    this.tipState = { height: block.height, hash: blockHash(block), time: block.time };
  }

  /** The block at `height`. */
  async block(height: number): Promise<Block> {
    const offset = this.offsets[height];
    if (offset === undefined) throw new RangeError(`no block at height ${height} (the ledger has ${this.length})`);
    const next = this.offsets[height + 1] ?? this.end;
    const buf = new Uint8Array(next - offset - FRAME_HEADER_BYTES);
    for (let done = 0; done < buf.length; ) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, offset + FRAME_HEADER_BYTES + done);
      if (bytesRead === 0) throw corrupt(this.paths.blocksFile, `block ${height} ends early`, { height });
      done += bytesRead;
    }
    return decodeBlock(buf);
  }

  /** The blocks from `from` up to the tip at the time of the call, in order. */
  async *blocks(from = 0): AsyncGenerator<Block> {
    const count = this.length;
    for (let h = Math.max(0, from); h < count; h++) yield await this.block(h);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.fh.close();
  }
}
