/**
 * Reading a block log file: frames (frame.ts) decoded into blocks. Shared by the store, which appends, and by
 * the audit, which only reads. A frame whose checksum holds but whose bytes do not decode as a block is
 * reported as corrupt, with the decoder's reason.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { BaksaError, ExitCode } from '../errors.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { decodeBlock, type Block } from './block.ts';
import { checkMagic, MAGIC, readFrames } from './frame.ts';

export type BlockLogEvent =
  | { kind: 'block'; offset: number; length: number; block: Block }
  | { kind: 'torn'; offset: number; bytes: number; why: string }
  | { kind: 'corrupt'; offset: number; why: string };

export interface OpenedBlockLog {
  fh: FileHandle;
  size: number;
  /** True when the file is a strict prefix of the magic (a torn creation): no blocks, nothing else. */
  tornMagic: boolean;
}

/** Opens a block log and checks its magic. Throws LEDGER_FORMAT for a file that is not a block log. */
export async function openBlockLog(file: string, mode: 'r' | 'r+'): Promise<OpenedBlockLog> {
  let fh: FileHandle;
  try {
    fh = await open(file, mode);
  } catch (error) {
    throw new BaksaError('LEDGER_NOT_FOUND', `cannot open the block log ${file}: ${(error as Error).message}`, {
      exitCode: ExitCode.usage,
      hint: 'check the path; a ledger directory holds blocks.log and validators.json',
    });
  }
  try {
    const { size } = await fh.stat();
    const magic = await checkMagic(fh, size);
    if (magic === 'bad') {
      throw new BaksaError('LEDGER_FORMAT', `${file} is not a 2baksa block log (bad magic)`, {
        exitCode: ExitCode.data,
        hint: 'give the blocks.log of a 2baksa ledger, or its directory',
      });
    }
    return { fh, size, tornMagic: magic === 'torn' };
  } catch (error) {
    await fh.close();
    throw error;
  }
}

export async function* readBlocks(log: OpenedBlockLog, frameBytesMax?: number): AsyncGenerator<BlockLogEvent> {
  if (log.tornMagic) {
    if (log.size > 0) yield { kind: 'torn', offset: 0, bytes: log.size, why: 'partial file header' };
    return;
  }
  for await (const event of readFrames(log.fh, MAGIC.length, log.size, frameBytesMax)) {
    if (event.kind !== 'frame') {
      yield event;
      return;
    }
    let block: Block;
    try {
      block = decodeBlock(event.payload);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      yield { kind: 'corrupt', offset: event.offset, why: `frame does not hold a valid block: ${error.message}` };
      return;
    }
    yield { kind: 'block', offset: event.offset, length: event.payload.length, block };
  }
}
