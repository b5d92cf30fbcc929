/**
 * shared/commit: the hybrid commit (DESIGN §5) — two-phase commit of shards to their placement targets,
 * made durable by a ledger block. Two pure state machines (`Coordinator`, `Participant`), the deadline rule
 * that makes rollback safe (`admitRecord` for whoever builds blocks), the two hint messages it adds to the
 * protocol (TxAbort, TxCommitted) and every bound in `CommitOptions`. Consensus is reached only through the
 * `submitForOrdering` action and the `blockCommitted` / `ledgerAnswer` events.
 */
export { commitOptions, defaultCommitOptions, type CommitOptions } from './options.ts';
export {
  RefusalCode,
  refusal,
  refusalCode,
  txAbortSchema,
  txCommittedSchema,
  type CommitMessage,
  type TxAbort,
  type TxCommitted,
} from './wire.ts';
export {
  AdmissionReason,
  admitRecord,
  findRecord,
  participantDeadlineMs,
  txDeadlineMs,
  type Admission,
  type AdmissionContext,
} from './deadline.ts';
export { OutcomeCode, committedResponse, failedResponse, isFinalResponse } from './outcome.ts';
export {
  routeCommitMessage,
  txKeyOf,
  type BlockCommitted,
  type CommittedTx,
  type CoordinatorAction,
  type CoordinatorEvent,
  type LedgerAnswer,
  type ParticipantAction,
  type ParticipantEvent,
  type RestoredStaging,
  type RoutedCommitMessage,
  type Tick,
  type TxSpec,
} from './events.ts';
export { type CoordinatorPhase, type VerifyTxSignature } from './coordinator-tx.ts';
export { Coordinator, checkSpec, type CoordinatorConfig, type CoordinatorStatus } from './coordinator.ts';
export { Participant, type ParticipantConfig, type ParticipantStatus, type SignTxDigest } from './participant.ts';
