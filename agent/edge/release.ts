/**
 * Freeing a gateway's shards across its edge cluster once retention forgets its snapshots (DESIGN §6:
 * "only after [the cloud's receipt is in the edge ledger] may edge shards be freed, as retention says").
 *
 * A gateway's chunks have shards on the other members, so forgetting a snapshot on the owner frees nothing
 * by itself, and a message to each peer would be lost on a peer that is down. The release goes through the
 * site ledger instead, like the data it frees:
 *
 *   owner   forget (retention; with a cloud, only snapshots whose receipt it holds) → mark what the kept
 *           snapshots and file states still reference → write the release durably (STATE/edge/
 *           release-pending.json) → drop the snapshots and dead chunks from its catalog (a later backup can
 *           no longer deduplicate against them) → commit release notices → remove the pending file.
 *           A crash anywhere redoes the unfinished steps from the pending file.
 *   member  every member, the owner included, applies the notices in ledger order (ReleaseApplier): it
 *           deletes the shards the ledger placed on it for the released chunks. A member down at the time
 *           applies them when it catches up the ledger; the cursor (STATE/edge/released.json) is the last
 *           block applied. A notice is read from k of its shards, which the members move into their
 *           stores only after its block is certified: one not readable yet is tried again shortly.
 *
 * A notice is an object committed like a snapshot descriptor (descriptor.ts: erasure-coded over the members
 * up, one transaction), whose record is named `free:<snapshot id>`:
 *
 *   u32 BE length ‖ MessagePack { v: 1, kind, account, node, snapshotId, chunks: [id] } ‖ Ed25519 signature
 *
 * signed with the owner's node key (the one the members pinned). A member honours a notice only when the
 * signature is the named member's and that member's account is the notice's (the account is the node name,
 * as `agent init` sets it; a gateway with another account keeps everything, as before). So one member cannot
 * free another's data. A snapshot forgotten with many dead chunks gets several notices (parts).
 *
 * Which shards a member deletes: those placed on it by records of the notice's account, for a released
 * chunk, in blocks before the notice (a chunk id that comes back later, from the same plaintext, is sealed
 * again under a fresh nonce: new shards, which are not touched); minus any shard the ledger places on it for
 * anything else (two records naming the same bytes, such as all-zero padding shards, keep it).
 *
 * A `relayout` notice (record `free:relayout`) follows a repair or rebalance, which commits a chunk anew
 * in another layout: it frees the chunk's earlier layouts, every record of it before the notice but the
 * latest (the one the owner's catalog now names). A crash between the relayout and its notice leaves the
 * old layout's shards in place (space, never data). Descriptors
 * and receipts stay: a few kilobytes per snapshot, and the leader of a gone gateway still learns from them
 * which snapshots the cloud holds. The leader skips released snapshots (EdgeProver.released).
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurable } from '../../shared/crypto/durable-file.ts';
import { sign, verify, type SigningKeyPair } from '../../shared/crypto/sign.ts';
import { ledgerPaths, openBlockLog, readBlocks } from '../../shared/ledger/index.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../../shared/protocol/codec.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import { accountSchema, hash32, nodeIdSchema, snapshotIdSchema, type BlockRecord } from '../../shared/protocol/messages.ts';
import { array, literal, object, oneOf, parseWith, type Schema } from '../../shared/protocol/schema.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import { commitObject } from './descriptor.ts';
import type { EdgeNode } from './node.ts';
import { ObjectReader } from './objects.ts';

export const RELEASE_RECORD_PREFIX = 'free:';
/** Chunks per notice: a notice stays under 600 KiB, so each of its shards fits one message. */
export const RELEASE_CHUNKS_PER_PART = 16_384;
const SIGNATURE_BYTES = 64;
const SIGNING_CONTEXT = new TextEncoder().encode('2baksa edge release v1\0');

export type ReleaseKind = 'forget' | 'relayout';
export const RELAYOUT_NOTICE_NAME = 'relayout';

export interface ReleaseNotice {
  /** forget: every layout of the chunks goes; relayout: all but the latest. */
  kind: ReleaseKind;
  account: string;
  /** The member that signed it (the account's gateway). */
  node: string;
  snapshotId: string;
  /** Chunk ids released (hex). */
  chunks: string[];
}

interface WireNotice {
  v: 1;
  kind: ReleaseKind;
  account: string;
  node: string;
  snapshotId: string;
  chunks: Uint8Array[];
}

const wireSchema: Schema<WireNotice> = object({
  v: literal(1),
  kind: oneOf(['forget', 'relayout']),
  account: accountSchema,
  node: nodeIdSchema,
  snapshotId: snapshotIdSchema,
  chunks: array(hash32, { max: RELEASE_CHUNKS_PER_PART }),
});

const limits: DecodeLimits = Object.freeze({
  inputBytesMax: 1024 * 1024,
  maxStrLength: 255,
  maxBinLength: 32,
  maxArrayLength: RELEASE_CHUNKS_PER_PART,
  maxMapLength: 8,
  maxExtLength: 0,
  depthMax: 3,
});

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();
const signed = (body: Uint8Array): Uint8Array => Buffer.concat([SIGNING_CONTEXT, body]);

export function encodeNotice(notice: ReleaseNotice, signer: SigningKeyPair): Uint8Array {
  const wire: WireNotice = { v: 1, kind: notice.kind, account: notice.account, node: notice.node, snapshotId: notice.snapshotId, chunks: notice.chunks.map((c) => new Uint8Array(Buffer.from(c, 'hex'))) };
  const body = encodeCanonical(wire);
  const out = new Uint8Array(4 + body.length + SIGNATURE_BYTES);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  out.set(sign(signer.privateKey, signed(body)), 4 + body.length);
  return out;
}

/** The notice's bytes without the zero padding its shards carry after them. */
export function noticeBytes(padded: Uint8Array): Uint8Array {
  const length = padded.length >= 4 ? new DataView(padded.buffer, padded.byteOffset, 4).getUint32(0) : -1;
  if (length < 0 || 4 + length + SIGNATURE_BYTES > padded.length) throw new ProtocolError('MALFORMED', `a release notice of ${length} bytes does not fit in ${padded.length}`);
  return padded.subarray(0, 4 + length + SIGNATURE_BYTES);
}

/** Decodes untrusted notice bytes and checks the signature against `keyOf(node)`; throws ProtocolError otherwise. */
export function decodeNotice(padded: Uint8Array, keyOf: (node: string) => Uint8Array | undefined): ReleaseNotice {
  const bytes = noticeBytes(padded);
  const body = bytes.subarray(4, bytes.length - SIGNATURE_BYTES);
  const w = parseWith(wireSchema, decodeUntrusted(body, limits), 'release notice');
  const key = keyOf(w.node);
  if (!key) throw new ProtocolError('SCHEMA', `release notice signed by ${w.node}, which is not a member`);
  if (!verify(key, signed(body), bytes.subarray(bytes.length - SIGNATURE_BYTES))) throw new ProtocolError('BAD_SIGNATURE', `release notice: ${w.node}'s signature does not verify`);
  return { kind: w.kind, account: w.account, node: w.node, snapshotId: w.snapshotId, chunks: w.chunks.map(hexOf) };
}

/**
 * The notices of one release: one per forgotten snapshot (the leader of a gone gateway learns from the
 * record names which snapshots are released), the dead chunks spread over them in parts of at most
 * RELEASE_CHUNKS_PER_PART; more parts, under the last snapshot's name, when they do not fit.
 */
export function releaseParts(snapshots: readonly string[], chunks: readonly string[]): Array<{ snapshotId: string; chunks: string[] }> {
  if (snapshots.length === 0) return [];
  const parts = Math.max(snapshots.length, Math.ceil(chunks.length / RELEASE_CHUNKS_PER_PART));
  return Array.from({ length: parts }, (_, i) => ({
    snapshotId: snapshots[Math.min(i, snapshots.length - 1)]!,
    chunks: chunks.slice(i * RELEASE_CHUNKS_PER_PART, (i + 1) * RELEASE_CHUNKS_PER_PART),
  }));
}

// ---- owner side: the pending release ---------------------------------------------------------------

export interface PendingRelease {
  account: string;
  snapshots: string[];
  chunks: string[];
  /** Shards of released chunks in this gateway's store from before the cluster (no record placed them). */
  localShards: string[];
}

export const pendingReleasePath = (stateRoot: string): string => join(stateRoot, 'edge', 'release-pending.json');

export async function readPendingRelease(stateRoot: string): Promise<PendingRelease | undefined> {
  const text = await readFile(pendingReleasePath(stateRoot), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const p = JSON.parse(text) as Partial<PendingRelease> & { format?: number };
  if (p.format !== 1 || typeof p.account !== 'string' || !Array.isArray(p.snapshots) || !Array.isArray(p.chunks) || !Array.isArray(p.localShards)) {
    throw new Error(`${pendingReleasePath(stateRoot)} is not a pending release (format 1)`);
  }
  return { account: p.account, snapshots: p.snapshots.map(String), chunks: p.chunks.map(String), localShards: p.localShards.map(String) };
}

export async function writePendingRelease(stateRoot: string, release: PendingRelease): Promise<void> {
  await writeFileDurable(pendingReleasePath(stateRoot), `${JSON.stringify({ format: 1, ...release })}\n`);
}

export async function clearPendingRelease(stateRoot: string): Promise<void> {
  await rm(pendingReleasePath(stateRoot), { force: true });
}

/** Commits the notices of a release, one transaction each. */
export function commitRelease(
  node: Pick<EdgeNode, 'commit' | 'liveMembers' | 'self'>,
  signer: SigningKeyPair,
  geometry: { k: number; m: number },
  release: PendingRelease,
): Promise<number> {
  return commitNotices(node, signer, geometry, release.account, 'forget', releaseParts(release.snapshots, release.chunks));
}

/** Commits the notices that free the earlier layouts of chunks a repair or rebalance laid out again. */
export function commitRelayoutRelease(
  node: Pick<EdgeNode, 'commit' | 'liveMembers' | 'self'>,
  signer: SigningKeyPair,
  geometry: { k: number; m: number },
  account: string,
  chunks: readonly string[],
): Promise<number> {
  return commitNotices(node, signer, geometry, account, 'relayout', releaseParts([RELAYOUT_NOTICE_NAME], chunks));
}

/** One signed notice object per part, each committed as its own transaction named `free:<part's snapshot>`. */
async function commitNotices(
  node: Pick<EdgeNode, 'commit' | 'liveMembers' | 'self'>,
  signer: SigningKeyPair,
  geometry: { k: number; m: number },
  account: string,
  kind: ReleaseKind,
  parts: ReadonlyArray<{ snapshotId: string; chunks: string[] }>,
): Promise<number> {
  for (const part of parts) {
    const bytes = encodeNotice({ kind, account, node: node.self, ...part }, signer);
    await commitObject(node, account, RELEASE_RECORD_PREFIX + part.snapshotId, geometry, bytes);
  }
  return parts.length;
}

// ---- member side: which shards go ------------------------------------------------------------------

export interface PlacedRecord {
  height: number;
  record: BlockRecord;
}

export interface AppliedNotice {
  /** Height of the block that holds the notice. */
  height: number;
  notice: ReleaseNotice;
}

/**
 * The shard ids placed on `self` that the notices free (pure; see the header for the rule). `records` is
 * the whole chain, in order, walked up to three times: `records()` returns a fresh iteration each call.
 */
export async function releasableShards(self: string, notices: readonly AppliedNotice[], records: () => AsyncIterable<PlacedRecord>): Promise<Set<string>> {
  const byAccount = new Map<string, Array<{ height: number; kind: ReleaseKind; chunks: Set<string>; latest: Map<string, number> }>>();
  for (const { height, notice } of notices) {
    let list = byAccount.get(notice.account);
    if (!list) byAccount.set(notice.account, (list = []));
    list.push({ height, kind: notice.kind, chunks: new Set(notice.chunks), latest: new Map() });
  }
  const applying = (height: number, record: BlockRecord) => (byAccount.get(record.account) ?? []).filter((n) => height < n.height);
  // The latest layout of each relaid chunk before its notice: the position of the record that holds it.
  if (notices.some((n) => n.notice.kind === 'relayout')) {
    let at = 0;
    for await (const { height, record } of records()) {
      at++;
      for (const n of applying(height, record)) {
        if (n.kind !== 'relayout') continue;
        for (const s of record.shards) if (n.chunks.has(hexOf(s.chunk))) n.latest.set(hexOf(s.chunk), at);
      }
    }
  }
  const freed = (at: number, height: number, record: BlockRecord, chunk: string): boolean =>
    applying(height, record).some((n) => n.chunks.has(chunk) && (n.kind === 'forget' || n.latest.get(chunk) !== at));
  const candidates = new Set<string>();
  let at = 0;
  for await (const { height, record } of records()) {
    at++;
    for (const s of record.shards) if (s.node === self && freed(at, height, record, hexOf(s.chunk))) candidates.add(hexOf(s.hash));
  }
  if (candidates.size === 0) return candidates;
  at = 0;
  for await (const { height, record } of records()) {
    at++;
    for (const s of record.shards) {
      if (s.node !== self) continue;
      const id = hexOf(s.hash);
      if (candidates.has(id) && !freed(at, height, record, hexOf(s.chunk))) candidates.delete(id);
    }
  }
  return candidates;
}

/** Records of a block log file from height `fromHeight` on (a torn tail ends it). */
async function* recordsOf(blocksFile: string, fromHeight = 0): AsyncGenerator<PlacedRecord> {
  const log = await openBlockLog(blocksFile, 'r');
  try {
    for await (const event of readBlocks(log)) {
      if (event.kind !== 'block') break;
      if (event.block.height < fromHeight) continue;
      for (const record of event.block.records) yield { height: event.block.height, record };
    }
  } finally {
    await log.fh.close();
  }
}

export interface ReleaseApplierConfig {
  /** This gateway's STATE/edge directory. */
  dir: string;
  node: Pick<EdgeNode, 'self' | 'readShard' | 'memberKey'>;
  store: Pick<ShardStore, 'deleteMany'>;
  logger?: Logger;
}

export interface ApplyReport {
  notices: number;
  shardsDeleted: number;
  /** Notices refused (bad signature, another member's account): logged and skipped. */
  refused: number;
  /**
   * A notice could not be read yet (fewer than k of its shards readable: members down, or its block
   * certified before the members moved its staged shards into their stores): run again later.
   */
  waiting: boolean;
}

/**
 * Applies the release notices of the site ledger to this member's store, in ledger order, from the
 * cursor on. `run` is serialized: a call during a run waits for it and runs once more after.
 */
export class ReleaseApplier {
  private running: Promise<ApplyReport> | undefined;
  private again = false;
  private readonly logger: Logger;
  private readonly objects: ObjectReader;

  constructor(private readonly config: ReleaseApplierConfig) {
    this.logger = config.logger ?? silentLogger;
    this.objects = new ObjectReader((node, shardId) => config.node.readShard(node, shardId));
  }

  private get cursorFile(): string {
    return join(this.config.dir, 'released.json');
  }

  private get blocksFile(): string {
    return ledgerPaths(join(this.config.dir, 'ledger')).blocksFile;
  }

  /** Applies what the ledger released since the last run. */
  run(): Promise<ApplyReport> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let total: ApplyReport = { notices: 0, shardsDeleted: 0, refused: 0, waiting: false };
      try {
        do {
          this.again = false;
          const r = await this.once();
          total = { notices: total.notices + r.notices, shardsDeleted: total.shardsDeleted + r.shardsDeleted, refused: total.refused + r.refused, waiting: r.waiting };
        } while (this.again);
        return total;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async once(): Promise<ApplyReport> {
    const report: ApplyReport = { notices: 0, shardsDeleted: 0, refused: 0, waiting: false };
    const cursor = await this.readCursor();
    const found: PlacedRecord[] = [];
    let tip = cursor - 1;
    for await (const placed of recordsOf(this.blocksFile, cursor)) {
      tip = Math.max(tip, placed.height);
      if (placed.record.snapshotId.startsWith(RELEASE_RECORD_PREFIX)) found.push(placed);
    }
    if (found.length === 0) {
      if (tip >= cursor) await this.writeCursor(tip + 1);
      return report;
    }
    const notices: AppliedNotice[] = [];
    let through = tip + 1;
    for (const { height, record } of found) {
      let notice: ReleaseNotice;
      try {
        notice = decodeNotice(await this.readObject(record), (node) => this.config.node.memberKey(node));
      } catch (error) {
        if (error instanceof ProtocolError) {
          report.refused++;
          this.logger.warn({ height, account: record.account, err: error.message }, 'a release notice in the site ledger is refused');
          continue;
        }
        // Not readable now (too few members up): apply what came before it, and this one next time.
        this.logger.info({ height, err: (error as Error).message }, 'a release notice cannot be read yet; it is applied later');
        report.waiting = true;
        through = height;
        break;
      }
      if (notice.account !== record.account || notice.node !== notice.account || RELEASE_RECORD_PREFIX + notice.snapshotId !== record.snapshotId) {
        report.refused++;
        this.logger.warn({ height, account: record.account, node: notice.node }, "a release notice for an account not its signer's is refused");
        continue;
      }
      notices.push({ height, notice });
    }
    if (notices.length > 0) {
      const shards = await releasableShards(this.config.node.self, notices, () => recordsOf(this.blocksFile));
      report.shardsDeleted = await this.config.store.deleteMany([...shards]);
      report.notices = notices.length;
      this.logger.info({ notices: notices.length, shardsDeleted: report.shardsDeleted }, 'released shards of forgotten snapshots');
    }
    if (through > cursor) await this.writeCursor(through);
    return report;
  }

  /** The notice object of `record`, from any k of its shards (this store's or the members'). */
  private async readObject(record: BlockRecord): Promise<Uint8Array> {
    const bytes = noticeBytes(await this.objects.fromRecord(record, hexOf(record.manifestRoot)));
    if (!sha256(bytes).equals(Buffer.from(record.manifestRoot))) throw new ProtocolError('MALFORMED', 'the release notice is not the object its record committed');
    return bytes;
  }

  private async readCursor(): Promise<number> {
    const text = await readFile(this.cursorFile, 'utf8').catch(() => undefined);
    const height = text === undefined ? 0 : (JSON.parse(text) as { nextHeight?: unknown }).nextHeight;
    return typeof height === 'number' && Number.isSafeInteger(height) && height >= 0 ? height : 0;
  }

  private async writeCursor(nextHeight: number): Promise<void> {
    await writeFileDurable(this.cursorFile, `${JSON.stringify({ format: 1, nextHeight })}\n`);
  }
}
