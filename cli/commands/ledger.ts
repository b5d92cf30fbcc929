/**
 * `2baksa ledger verify | show`: the auditor's view of a ledger (DESIGN §1, §5). A thin layer over
 * shared/ledger: `verify` streams the chain through the verifier offline; `show` lists blocks or prints one.
 *
 * Exit codes of `verify`: 0 the chain is good, 1 the chain is bad (first bad height and reason printed),
 * 2 usage (no such path), 3 the validator set is missing or invalid, 4 the file is not a block log.
 */
import { Command } from 'commander';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { formatOf, printRecord, printRows, type Column, type OutputFormat } from '../../shared/output.ts';
import type { Block } from '../../shared/ledger/index.ts';

// The ledger code loads when a ledger command runs, not with every command line (it is the largest part
// of the command modules' start-up).
const loadLedger = () => import('../../shared/ledger/index.ts');

interface VerifyFlags {
  validators?: string;
  recordSignatures?: boolean;
  strict?: boolean;
  json?: boolean;
}

interface ShowFlags {
  height?: string;
  json?: boolean;
  tsv?: boolean;
}

const hex = (bytes: Uint8Array | undefined): string | undefined => (bytes ? Buffer.from(bytes).toString('hex') : undefined);
const iso = (ms: number): string => new Date(ms).toISOString();

async function verifyCommand(path: string, opts: VerifyFlags): Promise<void> {
  const format = formatOf(opts);
  const { auditLedger } = await loadLedger();
  const audit = await auditLedger(path, { validatorsFile: opts.validators, verify: { recordSignatures: opts.recordSignatures !== false } });
  const v = audit.verdict;
  const tornBad = opts.strict === true && audit.tornTail !== undefined;
  const ok = v.ok && !tornBad;
  const record: Record<string, unknown> = {
    ok,
    path: audit.paths.blocksFile,
    validators: audit.validators,
    quorum: audit.quorum,
    blocks: v.blocks,
    ...(v.ok
      ? { height: v.height, records: v.records, tipHash: hex(v.tipHash) }
      : { badHeight: v.height, reason: v.reason, message: v.message, records: v.records }),
    signers: format === 'json' ? v.signers : v.signers.join(', '),
    tornTailBytes: audit.tornTail?.bytes ?? 0,
  };
  printRecord(record, format);
  if (audit.tornTail) {
    process.stderr.write(`2baksa: warning: the block log ends in a torn write (${audit.tornTail.why}, ${audit.tornTail.bytes} bytes at byte ${audit.tornTail.offset}); the blocks before it were verified\n`);
  }
  if (!v.ok) {
    process.stderr.write(`2baksa: the ledger is bad at height ${v.height}: ${v.message} [${v.reason}]\n`);
    process.exitCode = ExitCode.failure;
  } else if (tornBad) {
    process.stderr.write('2baksa: --strict: a torn tail counts as a failure\n');
    process.exitCode = ExitCode.failure;
  }
}

interface BlockRow {
  height: number;
  time: number;
  records: number;
  signers: string[];
  hash: string;
  prevHash: string;
  merkleRoot: string;
}

function rowOf(block: Block, blockHash: (block: Block) => Uint8Array): BlockRow {
  return {
    height: block.height,
    time: block.time,
    records: block.records.length,
    signers: block.qc.map((q) => q.signer),
    hash: hex(blockHash(block))!,
    prevHash: hex(block.prevHash)!,
    merkleRoot: hex(block.merkleRoot)!,
  };
}

const blockColumns: Column<BlockRow>[] = [
  { header: 'HEIGHT', value: (r) => r.height, align: 'right' },
  { header: 'TIME', value: (r) => iso(r.time) },
  { header: 'RECORDS', value: (r) => r.records, align: 'right' },
  { header: 'SIGNERS', value: (r) => r.signers.join(',') },
  { header: 'HASH', value: (r) => r.hash.slice(0, 16) },
];

function printBlock(block: Block, row: BlockRow, format: OutputFormat): void {
  if (format === 'json') {
    printRecord({ ...row, qc: block.qc, records: block.records }, format);
    return;
  }
  printRecord({ ...row, time: iso(row.time), signers: row.signers.join(', ') }, format);
  process.stdout.write('\n');
  printRows(
    block.records,
    [
      { header: 'TXID', value: (r) => hex(r.txId) },
      { header: 'TIME', value: (r) => iso(r.ts) },
      { header: 'ACCOUNT', value: (r) => r.account },
      { header: 'SNAPSHOT', value: (r) => r.snapshotId },
      { header: 'K+M', value: (r) => `${r.dataShards}+${r.parityShards}` },
      { header: 'SHARDS', value: (r) => r.shards.length, align: 'right' },
      { header: 'SIGNED BY', value: (r) => r.signatures.map((s) => s.signer).join(',') },
    ],
    format,
  );
}

async function showCommand(path: string, opts: ShowFlags): Promise<void> {
  const format = formatOf(opts);
  let height: number | undefined;
  if (opts.height !== undefined) {
    if (!/^\d+$/.test(opts.height)) throw configError('height', `"${opts.height}" is not a block height`);
    height = Number(opts.height);
  }
  const { blockHash, openBlockLog, readBlocks, resolveLedgerPath } = await loadLedger();
  const paths = await resolveLedgerPath(path);
  const log = await openBlockLog(paths.blocksFile, 'r');
  const rows: BlockRow[] = [];
  let found: Block | undefined;
  let count = 0;
  try {
    for await (const event of readBlocks(log)) {
      if (event.kind !== 'block') {
        process.stderr.write(`2baksa: warning: ${event.kind === 'torn' ? 'torn tail' : 'corrupt frame'} at byte ${event.offset}: ${event.why}\n`);
        break;
      }
      count++;
      if (height === undefined) rows.push(rowOf(event.block, blockHash));
      else if (count - 1 === height) {
        found = event.block;
        break;
      }
    }
  } finally {
    await log.fh.close();
  }
  if (height === undefined) {
    printRows(rows, blockColumns, format);
    return;
  }
  if (!found) {
    throw new BaksaError('BLOCK_NOT_FOUND', `the ledger has no block at height ${height} (it has ${count} readable blocks)`, {
      exitCode: ExitCode.usage,
      hint: `choose a height from 0 to ${count - 1}`,
    });
  }
  printBlock(found, rowOf(found, blockHash), format);
}

export function registerLedger(program: Command): void {
  const ledger = program.command('ledger').description('inspect and verify a ledger: hash chain, Merkle roots, quorum certificates');

  ledger
    .command('verify')
    .description('re-check every hash and signature of a ledger offline; exit 0 when good, 1 at the first bad block')
    .argument('<path>', 'ledger directory, or its blocks.log file')
    .option('--validators <file>', "trust this validator set instead of the ledger's own validators.json")
    .option('--no-record-signatures', "skip the placement targets' signatures inside records")
    .option('--strict', 'count a torn tail (a crash during the last append) as a failure')
    .option('--json', 'print JSON')
    .action(verifyCommand);

  ledger
    .command('show')
    .description('list the blocks of a ledger, or print one block with its records')
    .argument('<path>', 'ledger directory, or its blocks.log file')
    .option('--height <h>', 'print the block at this height')
    .option('--json', 'print JSON')
    .option('--tsv', 'print TSV')
    .action(showCommand);
}
