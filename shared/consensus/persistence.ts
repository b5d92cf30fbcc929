/**
 * What a replica must find again after a crash, as records the shell appends to durable storage.
 *
 * - `view`: the view, and whether a view change to it was started (so a restarted replica never
 *   votes again in a view it promised to leave), with the new-view message that started it;
 * - `entry`: a log entry, written when the replica accepts a pre-prepare (before its prepare goes out),
 *   when it prepares (before its commit goes out) and when it commits (before it executes and replies);
 * - `snapshot`: the application snapshot and client table at a checkpoint (before the checkpoint
 *   message goes out);
 * - `stable`: a stable checkpoint and its proof; it drops the entries at or below it.
 *
 * Ordering rule: the shell makes each `persist` durable before it performs any later send, broadcast
 * or reply of the same action list. A crash that loses the last record (a torn write) is therefore
 * safe: nothing that depended on it was sent.
 *
 * `applyPersistRecord` folds records into a `PersistedState`, so every shell (and the simulator's
 * disk) keeps state the same way; `Replica.restore(state)` rebuilds the replica from it.
 */
import type { Checkpoint, CommitCert, NewView, PrePrepare, PreparedCert } from './messages.ts';

export interface PersistedEntry {
  readonly seq: number;
  /** The pre-prepare accepted in the entry's latest view (absent if only certificates remain). */
  readonly prePrepare: PrePrepare | undefined;
  readonly preparedCert: PreparedCert | undefined;
  readonly commitCert: CommitCert | undefined;
}

export interface SnapshotRecord {
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  readonly snapshot: Uint8Array;
  readonly clientTable: Uint8Array;
}

export interface StableCheckpoint {
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  /** A quorum of matching signed checkpoint messages (empty for the genesis checkpoint 0). */
  readonly proof: readonly Checkpoint[];
}

export type PersistRecord =
  /** `newView` is the message that started `view` (kept so peers that missed it can be shown it). */
  | { readonly kind: 'view'; readonly view: number; readonly viewChanging: boolean; readonly newView?: NewView | undefined }
  | { readonly kind: 'entry'; readonly entry: PersistedEntry }
  | ({ readonly kind: 'snapshot' } & SnapshotRecord)
  | ({ readonly kind: 'stable' } & StableCheckpoint);

export interface PersistedState {
  view: number;
  viewChanging: boolean;
  newView: NewView | undefined;
  stable: StableCheckpoint;
  readonly entries: Map<number, PersistedEntry>;
  readonly snapshots: Map<number, SnapshotRecord>;
}

export const GENESIS_CHECKPOINT: StableCheckpoint = { seq: 0, stateDigest: new Uint8Array(0), proof: [] };

export function emptyPersistedState(): PersistedState {
  return { view: 0, viewChanging: false, newView: undefined, stable: GENESIS_CHECKPOINT, entries: new Map(), snapshots: new Map() };
}

export function applyPersistRecord(state: PersistedState, record: PersistRecord): void {
  switch (record.kind) {
    case 'view':
      state.view = record.view;
      state.viewChanging = record.viewChanging;
      state.newView = record.newView;
      return;
    case 'entry':
      if (record.entry.seq > state.stable.seq) state.entries.set(record.entry.seq, record.entry);
      return;
    case 'snapshot': {
      const { kind: _, ...snapshot } = record;
      if (snapshot.seq >= state.stable.seq) state.snapshots.set(snapshot.seq, snapshot);
      return;
    }
    case 'stable': {
      if (record.seq <= state.stable.seq) return;
      const { kind: _, ...stable } = record;
      state.stable = stable;
      for (const seq of [...state.entries.keys()]) if (seq <= stable.seq) state.entries.delete(seq);
      for (const seq of [...state.snapshots.keys()]) if (seq < stable.seq) state.snapshots.delete(seq);
      return;
    }
  }
}

/** A deep-enough copy for simulators that keep a disk image per replica. */
export function clonePersistedState(state: PersistedState): PersistedState {
  return { ...state, entries: new Map(state.entries), snapshots: new Map(state.snapshots) };
}
