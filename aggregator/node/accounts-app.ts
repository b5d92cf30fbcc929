/**
 * The account database as the PBFT application of the aggregator cluster (DESIGN §5, §7).
 *
 * Every account, group and quota change is one consensus request whose operation is the command's
 * canonical MessagePack bytes. The Application interface of the PBFT core is synchronous and pure,
 * and the account database is async sqlite, so the work is split in two:
 *
 * - `AccountsApp` (this file, in memory, deterministic): `execute` appends the operation to the ordered
 *   command log and advances a SHA-256 hash chain over it. Its result is the operation's position and
 *   the chain after it, identical on every correct replica. `snapshot` is the whole log (checkpoints and
 *   state transfer), `restore` rebuilds it and the chain.
 * - `AccountsMaterializer` (materializer.ts) applies the log, in order, to the node's sqlite database
 *   with `apply` (aggregator/accounts/state-machine.ts), recording (position, chain) in the same
 *   transaction. The submitting node waits until its own database reached the position and answers
 *   with the result of its own `apply`: `apply` is deterministic, so that is every replica's result.
 *
 * Why the whole log in the snapshot rather than the database file: a snapshot must be taken
 * synchronously at a checkpoint, while the database lags behind the log by design. Account commands
 * are administrative (a few per account over its lifetime: about 150 bytes each), so a cluster with
 * 100,000 accounts carries a log of tens of MB. `snapshotBytesMax` bounds it; past it the node stops
 * with a clear error instead of growing without bound (compaction into a database image is the next
 * step when a deployment gets there).
 */
import { createHash } from 'node:crypto';
import { encode } from '@msgpack/msgpack';
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../../shared/protocol/codec.ts';
import type { Application, ExecuteContext } from '../../shared/consensus/index.ts';
import type { AccountCommand } from '../accounts/types.ts';

export const CHAIN_BYTES = 32;
export const RESULT_BYTES = 8 + CHAIN_BYTES;

export interface AccountsAppOptions {
  /** Largest operation; a larger one is still ordered (every replica agrees on it) but refused by apply. */
  opBytesMax: number;
  /** Largest snapshot (the whole command log). */
  snapshotBytesMax: number;
}

export const defaultAccountsAppOptions: AccountsAppOptions = {
  opBytesMax: 256 * 1024,
  snapshotBytesMax: 256 * 1024 * 1024,
};

/** Limits for one command's bytes: a flat map of short fields. */
export const ACCOUNT_OP_LIMITS: DecodeLimits = Object.freeze({
  inputBytesMax: defaultAccountsAppOptions.opBytesMax,
  /** An object's layout (aggregator/accounts command-schema OBJECT_LAYOUT_CHARS_MAX) is the longest string. */
  maxStrLength: 8192,
  maxBinLength: 0,
  /** RecordObjects carries up to RECORD_OBJECTS_MAX objects. */
  maxArrayLength: 512,
  maxMapLength: 32,
  maxExtLength: 0,
  depthMax: 3,
});

export function encodeAccountOp(command: AccountCommand): Uint8Array {
  return encodeCanonical(command);
}

/** The command inside an operation, unchecked (apply checks its schema); a ProtocolError when it is not MessagePack within limits. */
export function decodeAccountOp(op: Uint8Array): unknown {
  return decodeUntrusted(op, ACCOUNT_OP_LIMITS);
}

export function nextChain(chain: Uint8Array, op: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(chain).update(op).digest());
}

export interface AccountsResult {
  position: number;
  chain: Uint8Array;
}

export function encodeAccountsResult(r: AccountsResult): Uint8Array {
  const out = new Uint8Array(RESULT_BYTES);
  new DataView(out.buffer).setBigUint64(0, BigInt(r.position));
  out.set(r.chain, 8);
  return out;
}

export function decodeAccountsResult(bytes: Uint8Array): AccountsResult {
  if (bytes.length !== RESULT_BYTES) throw new Error(`an accounts result is ${RESULT_BYTES} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { position: Number(view.getBigUint64(0)), chain: bytes.slice(8) };
}

const SNAPSHOT_VERSION = 1;

export class AccountsApp implements Application {
  readonly options: AccountsAppOptions;
  /** ops[i] is the operation at position i + 1; chains[i] the chain after it. */
  private ops: Uint8Array[] = [];
  private chains: Uint8Array[] = [];
  private logBytes = 0;
  private readonly listeners = new Set<() => void>();

  constructor(options: Partial<AccountsAppOptions> = {}) {
    this.options = { ...defaultAccountsAppOptions, ...options };
  }

  /** Operations executed so far (the position of the last one). */
  get position(): number {
    return this.ops.length;
  }

  opAt(position: number): Uint8Array | undefined {
    return this.ops[position - 1];
  }

  /** The chain after `position` (position 0: all zeroes). */
  chainAt(position: number): Uint8Array | undefined {
    if (position === 0) return new Uint8Array(CHAIN_BYTES);
    return this.chains[position - 1];
  }

  /** Called after every execute and restore (the materializer wakes up). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  execute(op: Uint8Array, _context: ExecuteContext): Uint8Array {
    const chain = nextChain(this.chainAt(this.position)!, op);
    this.ops.push(op.slice());
    this.chains.push(chain);
    this.logBytes += op.length + 8;
    if (this.logBytes > this.options.snapshotBytesMax) {
      throw new Error(
        `invariant violated: the account command log reached ${this.logBytes} bytes, over snapshotBytesMax ${this.options.snapshotBytesMax}; raise accounts.snapshotBytesMax in the node config`,
      );
    }
    this.emit();
    return encodeAccountsResult({ position: this.position, chain });
  }

  snapshot(): Uint8Array {
    return encode({ v: SNAPSHOT_VERSION, ops: this.ops });
  }

  restore(snapshot: Uint8Array): void {
    const value = decodeUntrusted(snapshot, {
      inputBytesMax: this.options.snapshotBytesMax + 1024,
      maxStrLength: 16,
      maxBinLength: this.options.snapshotBytesMax,
      maxArrayLength: Math.floor(this.options.snapshotBytesMax / 8),
      maxMapLength: 4,
      maxExtLength: 0,
      depthMax: 3,
    }) as { v?: unknown; ops?: unknown };
    if (value?.v !== SNAPSHOT_VERSION || !Array.isArray(value.ops) || !value.ops.every((o) => o instanceof Uint8Array)) {
      throw new Error('invariant violated: not an accounts snapshot');
    }
    const ops = (value.ops as Uint8Array[]).map((o) => o.slice());
    const chains: Uint8Array[] = [];
    let chain: Uint8Array = new Uint8Array(CHAIN_BYTES);
    let bytes = 0;
    for (const op of ops) {
      chain = nextChain(chain, op);
      chains.push(chain);
      bytes += op.length + 8;
    }
    this.ops = ops;
    this.chains = chains;
    this.logBytes = bytes;
    this.emit();
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}
