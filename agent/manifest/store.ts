/**
 * Writing a manifest as chunks (through the ChunkWriter, so it is deduped, compressed, encrypted and
 * erasure-coded like data) and reading it back as a stream of entries.
 */
import { createHash, type Hash } from 'node:crypto';
import { Chunker, type ChunkerOptions } from '../../shared/chunking/index.ts';
import type { ChunkSource, ChunkWriter } from '../chunks/index.ts';
import { keptOfText } from '../sources/names.ts';
import { LineSplitter, decodeEntry, decodeHeader, encodeEntry, encodeHeader, type ManifestEntry, type ManifestHeader } from './model.ts';

const FLUSH_CHARS = 64 * 1024;

export class ManifestWriter {
  private readonly chunker: Chunker;
  private pending = '';
  private readonly roots: string[] = [];
  private readonly tree: Hash = createHash('sha256');
  entries = 0;

  constructor(
    private readonly writer: ChunkWriter,
    chunker: ChunkerOptions,
    header: ManifestHeader,
  ) {
    this.chunker = new Chunker(chunker);
    this.pending = encodeHeader(header);
  }

  async add(entry: ManifestEntry): Promise<void> {
    this.entries++;
    const line = encodeEntry(entry);
    this.tree.update(line);
    this.pending += line;
    if (this.pending.length >= FLUSH_CHARS) await this.flush();
  }

  /** SHA-256 of the entries (not the header): equal trees give equal digests. Call once, after finish. */
  treeDigest(): string {
    return this.tree.digest('hex');
  }

  /** Stores the rest; returns the root chunk ids (the manifest's chunks in order). */
  async finish(): Promise<string[]> {
    await this.flush();
    for (const c of this.chunker.finish()) this.roots.push((await this.writer.add(c.data)).id);
    return this.roots;
  }

  private async flush(): Promise<void> {
    if (this.pending === '') return;
    const bytes = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    for (const c of this.chunker.push(bytes)) this.roots.push((await this.writer.add(c.data)).id);
  }
}

export interface OpenedManifest {
  header: ManifestHeader;
  entries: AsyncGenerator<ManifestEntry>;
}

/** Reads the manifest: the header at once, then entries as they are decoded. */
export async function openManifest(reader: ChunkSource, rootChunks: readonly string[]): Promise<OpenedManifest> {
  const splitter = new LineSplitter();
  let lines: string[] = [];
  let at = 0;
  let next = 0;
  let ended = false;
  const fill = async (): Promise<boolean> => {
    while (at >= lines.length && next < rootChunks.length) {
      lines = splitter.push(await reader.read(rootChunks[next++]!));
      at = 0;
    }
    if (at >= lines.length && !ended) {
      ended = true;
      lines = splitter.finish();
      at = 0;
    }
    return at < lines.length;
  };
  if (!(await fill())) throw new Error('manifest: empty');
  const header = decodeHeader(lines[at++]!);
  // Version 1 recorded names as plain text: a character of the escape range there is that character.
  const literal = header.v < 2;
  async function* entries(): AsyncGenerator<ManifestEntry> {
    while (await fill()) {
      while (at < lines.length) {
        const e = decodeEntry(lines[at++]!);
        if (literal) {
          e.path = keptOfText(e.path);
          if (e.target !== undefined) e.target = keptOfText(e.target);
        }
        yield e;
      }
    }
  }
  return { header, entries: entries() };
}
