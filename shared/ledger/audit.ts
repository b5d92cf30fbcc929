/**
 * The offline audit behind `2baksa ledger verify`: stream a ledger file from disk through the ChainVerifier
 * without holding it in memory and without writing anything. A torn tail (a crash during the last append)
 * is reported next to the verdict; a frame that is corrupt or does not decode fails the chain with
 * CORRUPT_BLOCK at the height it would have had.
 */
import { readBlocks, openBlockLog } from './blocklog.ts';
import { readValidators, resolveLedgerPath, type LedgerPaths } from './files.ts';
import type { SignerRegistry } from './quorum.ts';
import { ChainVerifier, defaultLedgerVerifyOptions, type ChainVerdict, type LedgerVerifyOptions } from './verify.ts';

export interface AuditOptions {
  /** Validator set file to trust instead of the ledger's own validators.json. */
  validatorsFile?: string;
  /** Use this validator set (overrides validatorsFile). */
  registry?: SignerRegistry;
  verify?: LedgerVerifyOptions;
}

export interface LedgerAudit {
  paths: LedgerPaths;
  validators: number;
  quorum: number;
  verdict: ChainVerdict;
  /** A partial last frame, left by a crash mid-append; the blocks before it were verified. */
  tornTail: { offset: number; bytes: number; why: string } | undefined;
}

/** Verifies the ledger at `path` (a directory or a blocks.log). Throws BaksaError only for unusable input. */
export async function auditLedger(path: string, options: AuditOptions = {}): Promise<LedgerAudit> {
  const paths = await resolveLedgerPath(path, options.validatorsFile);
  const registry = options.registry ?? (await readValidators(paths.validatorsFile));
  const verifier = new ChainVerifier(registry, options.verify ?? defaultLedgerVerifyOptions);
  const log = await openBlockLog(paths.blocksFile, 'r');
  let tornTail: LedgerAudit['tornTail'];
  try {
    for await (const event of readBlocks(log)) {
      if (event.kind === 'torn') {
        tornTail = { offset: event.offset, bytes: event.bytes, why: event.why };
        break;
      }
      if (event.kind === 'corrupt') {
        verifier.fail('CORRUPT_BLOCK', `${event.why} at byte ${event.offset}`);
        break;
      }
      if (verifier.push(event.block)) break;
    }
  } finally {
    await log.fh.close();
  }
  return { paths, validators: registry.size, quorum: registry.quorum, verdict: verifier.result(), tornTail };
}
