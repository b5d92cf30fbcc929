/**
 * shared/ledger-service: the replicated ledger (DESIGN §5). A PBFT Application (`LedgerMachine`) turns
 * ordered CommitRequests into blocks every replica forms byte-identically; a pure `BlockCertifier`
 * gathers a quorum of validator signatures over each block; `LedgerService` binds both to a LedgerStore
 * and to a send/receive pair for the ledger's own messages (BlockSignature, LedgerSyncRequest,
 * LedgerSyncBlocks).
 *
 *   const machine = new LedgerMachine({ registry: store.registry, options });     // the replica's app
 *   const replica = createReplica({ n, id, keys, app: machine });
 *   const ledger = await LedgerService.open({ self, privateKey, store, machine, send });
 *   // replica actions → ledger.observe(action); ledger frames in → ledger.receive(from, msg); timer → ledger.tick()
 *   // submit ops with encodeLedgerOp({op: 'commit', request}) / ({op: 'cut', pastMs}); results: decodeLedgerResult
 */
export {
  blockCertifierOptions,
  defaultBlockCertifierOptions,
  defaultLedgerMachineOptions,
  defaultLedgerServiceOptions,
  ledgerMachineOptions,
  ledgerServiceOptions,
  type BlockCertifierOptions,
  type LedgerMachineOptions,
  type LedgerServiceOptions,
} from './options.ts';
export {
  LedgerRefusal,
  decodeLedgerOp,
  decodeLedgerResult,
  encodeLedgerOp,
  encodeLedgerResult,
  opDecodeLimits,
  type LedgerOp,
  type LedgerResult,
} from './ops.ts';
export { RecentTxs, type RecentTx } from './recent-txs.ts';
export { SNAPSHOT_FORMAT_VERSION, decodeMachineState, encodeMachineState, type MachineState } from './snapshot.ts';
export { LedgerMachine, type LedgerMachineConfig, type LedgerMachineStats } from './machine.ts';
export {
  LEDGER_MESSAGE_TYPES,
  SYNC_BLOCKS_MAX,
  blockSignatureSchema,
  ledgerMessageOf,
  outgoingLedgerMessage,
  ledgerSyncBlocksSchema,
  ledgerSyncRequestSchema,
  type BlockSignature,
  type LedgerMessage,
  type LedgerSyncBlocks,
  type LedgerSyncRequest,
} from './messages.ts';
export {
  BlockCertifier,
  type BlockCertifierConfig,
  type BlockCertifierStatus,
  type CertifierAction,
  type CertifierEvent,
  type CertifierReject,
} from './certifier.ts';
export { LedgerService, blockCommittedOf, type LedgerServiceConfig, type LedgerServiceStatus } from './service.ts';
