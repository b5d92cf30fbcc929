/**
 * Every bound of the replicated ledger service in one table. `LedgerMachineOptions` are part of the
 * replicated state machine: every replica of a cluster must run with the same values (like the commit
 * options they repeat), or replicas form different blocks. The certifier and shell options are local.
 */
import { configError } from '../errors.ts';
import { defaultCommitOptions } from '../commit/options.ts';

export interface LedgerMachineOptions {
  /** Admission rule (commit/deadline.ts): the same values as the cluster's CommitOptions. */
  txLifetimeMs: number;
  clockSkewMsMax: number;
  /** Records in one block; a batch with more is split into several blocks of the same time. */
  blockRecordsMax: number;
  /** Encoded op bytes in one block (a proxy for the block's size); a record that passes it starts a new block. */
  blockBytesMax: number;
  /** Transaction ids remembered for duplicate detection (those whose deadline has not passed); beyond, records are refused LEDGER_FULL. */
  recentTxsMax: number;
  /** Largest op accepted (the PBFT core has its own opBytesMax too). */
  opBytesMax: number;
}

export const defaultLedgerMachineOptions: LedgerMachineOptions = Object.freeze({
  txLifetimeMs: defaultCommitOptions.txLifetimeMs,
  clockSkewMsMax: defaultCommitOptions.clockSkewMsMax,
  blockRecordsMax: 4096,
  blockBytesMax: 8 * 1024 * 1024,
  recentTxsMax: 262_144,
  opBytesMax: 1024 * 1024,
});

export interface BlockCertifierOptions {
  /** Heights at or beyond nextHeight + this are refused from peers (bounds what a peer can make us hold). */
  heightsAheadMax: number;
  /** Certified blocks whose certificate is kept to answer a peer that asks (`want`). */
  certifiedKeptMax: number;
  /** Re-broadcast our signature, asking for the peers' (`want`), after this many ticks without a certificate. */
  retryTicks: number;
}

export const defaultBlockCertifierOptions: BlockCertifierOptions = Object.freeze({
  heightsAheadMax: 256,
  certifiedKeptMax: 256,
  retryTicks: 20,
});

export interface LedgerServiceOptions {
  certifier: BlockCertifierOptions;
  /** Blocks in one LedgerSyncBlocks answer, and the encoded bytes it stops at (at least one block is sent). */
  syncBlocksMax: number;
  syncBytesMax: number;
}

export const defaultLedgerServiceOptions: LedgerServiceOptions = Object.freeze({
  certifier: defaultBlockCertifierOptions,
  syncBlocksMax: 64,
  syncBytesMax: 4 * 1024 * 1024,
});

function checkWhole(prefix: string, o: object, zeroOk: readonly string[] = []): void {
  for (const [field, value] of Object.entries(o)) {
    if (typeof value === 'object') continue;
    const min = zeroOk.includes(field) ? 0 : 1;
    if (!Number.isSafeInteger(value) || (value as number) < min) {
      throw configError(`${prefix}.${field}`, `must be a whole number ≥ ${min}, got ${String(value)}`);
    }
  }
}

/** Merges over the defaults; refuses a bad value with its field name (CONFIG_INVALID). */
export function ledgerMachineOptions(options: Partial<LedgerMachineOptions> = {}): LedgerMachineOptions {
  const o: LedgerMachineOptions = { ...defaultLedgerMachineOptions, ...options };
  checkWhole('ledger', o, ['clockSkewMsMax']);
  return o;
}

export function blockCertifierOptions(options: Partial<BlockCertifierOptions> = {}): BlockCertifierOptions {
  const o: BlockCertifierOptions = { ...defaultBlockCertifierOptions, ...options };
  checkWhole('ledger.certifier', o);
  return o;
}

export function ledgerServiceOptions(options: Partial<Omit<LedgerServiceOptions, 'certifier'>> & { certifier?: Partial<BlockCertifierOptions> } = {}): LedgerServiceOptions {
  const o: LedgerServiceOptions = {
    ...defaultLedgerServiceOptions,
    ...options,
    certifier: blockCertifierOptions(options.certifier),
  };
  checkWhole('ledger', o);
  return o;
}
