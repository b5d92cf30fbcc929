/**
 * Migration routes (DESIGN §6): a gateway agent (role `agent`, its own account) or an operator moves
 * snapshots from the edge into the cluster. Offer/need, then only the missing chunks travel, then
 * the snapshot record:
 *
 *   POST /v1/accounts/:account/migration/need        {chunks:[{id,length,sealedLength,sha256?}]} → {need:[id], site}
 *   POST /v1/accounts/:account/migration/edge-proofs  an edge proof (MessagePack, shared/ledger/edge-proof.ts) → {chunks}
 *   PUT  /v1/accounts/:account/chunks/:id?length&sha256   the sealed chunk object (raw)
 *   POST /v1/accounts/:account/chunks                 several sealed chunk objects (frames: id, sha256,
 *                                                     length, bytes) → {results: [{id, stored} | {id, error}]}
 *   PUT  /v1/accounts/:account/snapshots/:snapshotId   {createdMs, rootChunks, chunks} (raw JSON) → receipt
 *   GET  /v1/accounts/:account/snapshots              the migrated snapshots, oldest first
 *   POST /v1/accounts/:account/chunks/info            {ids} → [{id,length,sealedLength,sha256}]
 *   GET  /v1/accounts/:account/chunks/:id             the sealed chunk object (raw)
 *   POST /v1/accounts/:account/chunks/fetch           {ids} → those sealed chunk objects (frames: id, bytes)
 *
 * Verification before anything is stored: the SHA-256 of every uploaded chunk object must be the one
 * offered (the chunks are sealed with the tenant's key, which the cloud never holds: it verifies the
 * ciphertext's hash; the agent re-checks the chunk id when it opens a chunk on restore), and a
 * snapshot is recorded only when every chunk it names is stored. What fails is refused with a reason
 * and stored nowhere.
 *
 * Ledger verification (an account bound to an edge site, `2baksa sites register`): `need` answers the
 * site, and each chunk must then be proven before its upload is taken: the agent sends blocks of the
 * site's ledger with their quorum certificates and the records (with inclusion proofs) that committed
 * the chunks; this node checks them against the site's registered keys and remembers, per chunk, the
 * SHA-256 of its k data shards. The upload is stored only when its bytes cut into those shards
 * (EDGE_PROOF_MISSING when no proof came, EDGE_PROOF_MISMATCH when the bytes are not the committed
 * ones). The proven hashes are node-local and bounded: an agent that fails over to another node, or whose
 * proof was evicted, is told EDGE_PROOF_MISSING and proves the chunk again. On the write routes (need,
 * edge-proofs, chunk upload, snapshot record) a gateway may act for another account bound to its own
 * site, so the leader can migrate a dead peer's snapshots (agent/migrate/gone.ts); reads stay the owner's.
 *
 * Storage and records: a chunk is one erasure-coded blob over the nodes (ClusterStore, rack-aware),
 * recorded through consensus as an object `chunk:<id>` of the account (so quotas, space reports and
 * `accounts check` count it), its layout holding the blob reference, plaintext length and hash; a
 * snapshot is the object `snapshot:<id>` whose layout holds its root chunks.
 *
 * An upload does not wait for consensus: once its shards are durable on the nodes, the chunk goes to
 * this node's durable queue (`migration_pending`, local to the node) and the upload is answered. A
 * batched upload (POST chunks) is checked chunk by chunk (a chunk that fails is refused alone), then
 * admitted by quota, erasure-coded with each node getting its shards of every chunk in one request
 * (ClusterStore.putBlobs) and queued in one transaction; a batched read (POST chunks/fetch) likewise
 * asks each node once for the data shards of all its chunks (ClusterStore.getBlobs). The
 * queue is recorded in batches (`RecordObjects`, hundreds of chunks per consensus request) in the
 * background as uploads come in (so a snapshot's record finds little left to record), when the
 * snapshot is recorded, and by the node's timer for uploads whose snapshot never comes. Flushes run one
 * at a time per node: two at once would submit the same rows. `need` counts
 * queued chunks as present; a snapshot sent to another node than its chunks finds them missing there,
 * and the agent offers and uploads them again (the shards it sent first become unreferenced). Dedup is per account
 * (the tenant: chunk ids are keyed with the tenant's dedup key, so they only match within it).
 * The receipt carries the PBFT position and chain of the snapshot's record, which f + 1 replicas
 * agreed on before this node answered.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { AccountCommand, ApplyResult } from '../accounts/types.ts';
import { resolveAccount } from '../accounts/queries.ts';
import { quotaHoldsOf, type UnrecordedBytes } from '../accounts/quota.ts';
import { requireResidency } from '../accounts/residency.ts';
import type { Account } from '../accounts/types.ts';
import { payloadTooLarge } from './object-sink.ts';
import { BodyTooLarge, collectBody, declaredLength } from '../../shared/http/body.ts';
import { apiError } from './errors.ts';
import { requireOwnAccount, type Principal } from './rbac.ts';
import type { RouteSpec } from './route.ts';
import { accountParams, accountRef } from './schemas.ts';
import { RECORD_OBJECTS_MAX } from '../accounts/command-schema.ts';
import { siteOfAccount } from '../accounts/queries.ts';
import { EDGE_PROOF_BYTES_MAX, SignerRegistry, decodeEdgeProof, matchesDataShards, verifyEdgeProof, type EdgeProof, type ProvenChunk } from '../../shared/ledger/index.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import { CHUNK_FRAME_HEAD_BYTES, CHUNK_ID_FRAME_HEAD_BYTES, decodeChunkFrameHead, decodeFrames, encodeFrames, type Frame } from '../../shared/http/frames.ts';
import type { ReceiptFacts, ReceiptSignature } from '../../shared/crypto/receipt.ts';
import type { BlobRef, ClusterStore } from '../storage/index.ts';

const roles = ['operator', 'agent'] as const;
const HEX64 = /^[0-9a-f]{64}$/;
const SNAPSHOT_ID = /^[A-Za-z0-9._-]{1,100}$/;

export interface OrderedResult {
  result: ApplyResult;
  position: number;
  chain: string;
}

export interface MigrationDeps {
  db: Database;
  store: ClusterStore;
  /** Submits a command through consensus; resolves with this node's result and its place in the order. */
  submitOrdered: (command: AccountCommand) => Promise<OrderedResult>;
  cluster: string;
  /** The region this cluster keeps its data in (data residency); undefined: it names none. */
  region?: string;
  now: () => number;
  /** Largest sealed chunk object accepted (a 4 MiB chunk that did not compress, plus overhead). */
  chunkBytesMax: number;
  /** Largest snapshot record (its chunk list). */
  snapshotRecordBytesMax: number;
  /** Entries per need/info call. */
  batchMax: number;
  /** Chunks in one batched upload. */
  chunkBatchCountMax: number;
  /** Bytes of one batched upload (at least chunkBytesMax plus framing, so any chunk fits one). */
  chunkBatchBytesMax: number;
  /** Quorum-signed receipts (aggregator/node/receipts.ts); without it receipts carry no signatures. */
  receipts?: {
    replicas: number;
    collect(facts: ReceiptFacts): Promise<ReceiptSignature[]>;
    positionOf(account: number, snapshotId: string): { position: number; chain: string } | undefined;
  };
}

export const defaultMigrationOptions = {
  chunkBytesMax: 32 * 1024 * 1024,
  snapshotRecordBytesMax: 64 * 1024 * 1024,
  batchMax: 2048,
  chunkBatchCountMax: 64,
  chunkBatchBytesMax: 40 * 1024 * 1024,
} as const;

export interface ChunkLayout {
  v: 1;
  kind: 'chunk';
  key: string;
  blob: BlobRef;
  length: number;
  sha256: string;
}

interface SnapshotLayout {
  v: 1;
  kind: 'snapshot';
  createdMs: number;
  rootChunks: string[];
  chunkCount: number;
}

const chunkObject = (id: string) => `chunk:${id}`;

/** One uploaded chunk: what the agent says of it, and its sealed bytes. */
interface ChunkUpload {
  id: string;
  /** Plaintext bytes. */
  length: number;
  /** SHA-256 (hex) the sealed bytes must have. */
  sha256: string;
  body: Uint8Array;
}

const PENDING_SCHEMA = `CREATE TABLE IF NOT EXISTS migration_pending (
  account INTEGER NOT NULL,
  object_id TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  layout TEXT NOT NULL,
  queued_ms INTEGER NOT NULL,
  PRIMARY KEY (account, object_id)
)`;

const pendingReady = new WeakMap<Database, Promise<void>>();
function ensurePending(db: Database): Promise<void> {
  let p = pendingReady.get(db);
  if (!p) {
    p = db.exec(PENDING_SCHEMA);
    pendingReady.set(db, p);
  }
  return p;
}

const queuedSources = new WeakMap<Database, UnrecordedBytes>();

/** The bytes of the accounts' chunks in this node's queue: stored, not yet recorded (one source per database). */
function queuedBytesOf(db: Database): UnrecordedBytes {
  let source = queuedSources.get(db);
  if (!source) {
    source = async (accounts) => {
      if (accounts.length === 0) return 0;
      await ensurePending(db);
      const row = await db.get<{ n: number }>(`SELECT COALESCE(SUM(bytes), 0) AS n FROM migration_pending WHERE account IN (${accounts.map(() => '?').join(', ')})`, [...accounts]);
      return row?.n ?? 0;
    };
    queuedSources.set(db, source);
  }
  return source;
}

/** The shard ids of the chunks in this node's queue (stored, their records not yet ordered). */
export async function queuedShardIds(db: Database): Promise<string[]> {
  await ensurePending(db);
  const rows = await db.all<{ layout: string }>('SELECT layout FROM migration_pending');
  return rows.flatMap((r) => {
    const layout = chunkLayout(r.layout);
    if (!Array.isArray(layout?.blob?.shards)) throw new Error(`a queued chunk's layout names no shards: ${r.layout.slice(0, 200)}`);
    return layout.blob.shards;
  });
}

/** Bytes of RecordObjects commands (their layouts); well under the account command limit. */
const RECORD_BATCH_BYTES_MAX = 192 * 1024;

/** The last flush of each node's queue (by its database): the next one waits for it. */
const flushTurns = new WeakMap<Database, Promise<unknown>>();
/** Nodes with a background flush waiting for its turn (uploads after it has started ask for another). */
const flushAsked = new WeakSet<Database>();

/**
 * Records the queued chunks (of one account, or of all of them) through consensus, in batches, and
 * takes them off the queue, after the node's flush before it. Returns how many were recorded or found
 * recorded already.
 */
export function flushPendingRecords(deps: Pick<MigrationDeps, 'db' | 'submitOrdered' | 'now'>, account?: number): Promise<number> {
  return inTurn(deps.db, () => flushNow(deps, account));
}

/**
 * Asks for the queue to be recorded in the background, soon (after uploads): at most one such flush
 * waits at a time; a failure is left for the snapshot's record (or the timer) to meet again.
 */
export function recordSoon(deps: Pick<MigrationDeps, 'db' | 'submitOrdered' | 'now'>): void {
  if (flushAsked.has(deps.db)) return;
  flushAsked.add(deps.db);
  void inTurn(deps.db, () => {
    flushAsked.delete(deps.db);
    return flushNow(deps);
  }).catch(() => undefined);
}

function inTurn<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  const turn = (flushTurns.get(db) ?? Promise.resolve()).then(fn);
  flushTurns.set(db, turn.catch(() => undefined));
  return turn;
}

async function flushNow(deps: Pick<MigrationDeps, 'db' | 'submitOrdered' | 'now'>, account?: number): Promise<number> {
  const { db } = deps;
  await ensurePending(db);
  const rows = await db.all<{ account: number; object_id: string; bytes: number; layout: string }>(
    account === undefined
      ? 'SELECT account, object_id, bytes, layout FROM migration_pending ORDER BY account, queued_ms'
      : 'SELECT account, object_id, bytes, layout FROM migration_pending WHERE account = ? ORDER BY queued_ms',
    account === undefined ? [] : [account],
  );
  const batches: Array<{ account: number; objects: Array<{ objectId: string; bytes: number; layout: string }> }> = [];
  let size = 0;
  for (const r of rows) {
    const last = batches.at(-1);
    const cost = r.layout.length + r.object_id.length + 32;
    if (!last || last.account !== r.account || last.objects.length >= RECORD_OBJECTS_MAX || size + cost > RECORD_BATCH_BYTES_MAX) {
      batches.push({ account: r.account, objects: [] });
      size = 0;
    }
    batches.at(-1)!.objects.push({ objectId: r.object_id, bytes: r.bytes, layout: r.layout });
    size += cost;
  }
  let done = 0;
  await Promise.all(
    batches.map(async (b) => {
      const { result } = await deps.submitOrdered({ type: 'RecordObjects', account: b.account, atMs: deps.now(), objects: b.objects });
      const refused = refusal(result);
      if (refused) throw refused;
      await db.transaction(async (tx) => {
        for (const o of b.objects) await tx.run('DELETE FROM migration_pending WHERE account = ? AND object_id = ?', [b.account, o.objectId]);
      });
      done += b.objects.length;
    }),
  );
  return done;
}
const snapshotObject = (id: string) => `snapshot:${id}`;

/** The JSON schema of a `{ids: [chunk id]}` body of at most `max` ids. */
const chunkIdsBody = (max: number) => ({
  type: 'object', additionalProperties: false, required: ['ids'],
  properties: { ids: { type: 'array', minItems: 1, maxItems: max, items: { type: 'string', pattern: '^[0-9a-f]{64}$' } } },
});

/** A raw request body of at most `bytesMax` bytes: refused at once by its declared length, else while it streams. */
async function readBody(request: { headers: Record<string, unknown>; body: unknown }, bytesMax: number): Promise<Buffer> {
  if (Number(request.headers['content-length'] ?? 0) > bytesMax) throw payloadTooLarge(bytesMax);
  const body = request.body;
  if (!body || typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function') {
    throw apiError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/octet-stream', 'set Content-Type: application/octet-stream');
  }
  try {
    return await collectBody(body as AsyncIterable<Uint8Array>, bytesMax, declaredLength(request.headers['content-length']));
  } catch (error) {
    if (error instanceof BodyTooLarge) throw payloadTooLarge(bytesMax);
    throw error;
  }
}

function badRequest(field: string, why: string): BaksaError {
  return apiError('BAD_REQUEST', `${field}: ${why}`, `fix "${field}"`, { field });
}

/** The layouts of these objects of the account: recorded ones, and (with `pending`) queued ones. */
async function layoutsOf(db: Database, account: number, objectIds: readonly string[], pending = true): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  if (pending) await ensurePending(db);
  for (let i = 0; i < objectIds.length; i += 500) {
    const slice = objectIds.slice(i, i + 500);
    const marks = slice.map(() => '?').join(',');
    const rows = await db.all<{ object_id: string; layout: string | null }>(
      `SELECT object_id, layout FROM objects WHERE account = ? AND object_id IN (${marks})` +
        (pending ? ` UNION ALL SELECT object_id, layout FROM migration_pending WHERE account = ? AND object_id IN (${marks})` : ''),
      pending ? [account, ...slice, account, ...slice] : [account, ...slice],
    );
    for (const r of rows) if (!out.has(r.object_id)) out.set(r.object_id, r.layout);
  }
  return out;
}

/** A migrated chunk's layout (a blob of the cluster store), or undefined for anything else. */
export function chunkLayout(text: string | null | undefined): ChunkLayout | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<ChunkLayout>;
    return v.v === 1 && v.kind === 'chunk' ? (v as ChunkLayout) : undefined;
  } catch {
    return undefined;
  }
}

/** True for a snapshot record's layout (`{v: 1, kind: 'snapshot', …}`), which names no stored bytes. */
export function isSnapshotLayout(text: string | null | undefined): boolean {
  if (!text) return false;
  try {
    const v = JSON.parse(text) as Partial<SnapshotLayout>;
    return v.v === 1 && v.kind === 'snapshot';
  } catch {
    return false;
  }
}

function refusal(result: ApplyResult): BaksaError | undefined {
  if (result.ok) return undefined;
  return new BaksaError(result.error.code, result.error.message, { exitCode: ExitCode.data, ...(result.error.hint ? { hint: result.error.hint } : {}), ...(result.error.details ? { details: result.error.details } : {}) });
}

/** Chunks proven by edge blocks on this node, per account; the oldest are forgotten past `max`. */
export class ProvenChunks {
  private readonly map = new Map<string, ProvenChunk[]>();

  constructor(private readonly max = 200_000) {}

  add(account: number, chunks: ReadonlyMap<string, ProvenChunk[]>): void {
    for (const [id, versions] of chunks) {
      const key = `${account}/${id}`;
      this.map.delete(key);
      this.map.set(key, versions.slice(-4));
      if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    }
  }

  get(account: number, id: string): ProvenChunk[] | undefined {
    return this.map.get(`${account}/${id}`);
  }
}

export function migrationRoutes(deps: MigrationDeps): RouteSpec[] {
  const { db, store } = deps;
  const proven = new ProvenChunks();
  const holds = quotaHoldsOf(db);
  holds.countAlso(queuedBytesOf(db));
  /**
   * The account of the route. An agent acts for its own; with `peer`, also for another account of its
   * edge site: a gateway migrates a dead peer's snapshots (DESIGN §6), which it can only do with chunks
   * the site's ledger proves. Reading stays with the owner.
   */
  const account = async (request: { params: unknown }, principal: Principal, peer = false) => {
    const a = await resolveAccount(db, (request.params as { account: string }).account);
    try {
      requireOwnAccount(principal, a);
    } catch (error) {
      if (!peer) throw error;
      const [mine, theirs] = await Promise.all([siteOfAccount(db, principal.identity.toLowerCase()), siteOfAccount(db, a.name)]);
      if (!mine || !theirs || mine.name !== theirs.name) throw error;
    }
    return a;
  };
  /**
   * Stores uploaded chunks (one, or a batch): each is checked (hash, already held, edge proof) on its own
   * and fails alone; the rest are admitted by quota together, erasure-coded together (each node gets its
   * shards of all of them in one request: ClusterStore.putBlobs) and queued for their records in one
   * transaction. One outcome per upload, in order.
   */
  const storeChunks = async (a: Account, uploads: readonly ChunkUpload[]): Promise<Array<{ stored: boolean } | BaksaError>> => {
    requireResidency(a, deps.region, 'migration');
    const out: Array<{ stored: boolean } | BaksaError | undefined> = uploads.map(() => undefined);
    const seen = new Set<string>();
    uploads.forEach((u, i) => {
      if (u.body.length === 0) {
        out[i] = badRequest('body', 'a sealed chunk object is never empty');
        return;
      }
      if (seen.has(u.id)) {
        out[i] = badRequest('id', `chunk ${u.id} comes twice in one batch`);
        return;
      }
      seen.add(u.id);
      const actual = createHash('sha256').update(u.body).digest('hex');
      if (actual !== u.sha256) {
        out[i] = apiError('CHUNK_HASH_MISMATCH', `chunk ${u.id}: the body's SHA-256 is ${actual}, the offer said ${u.sha256}; nothing was stored`, 'read the chunk again from its shards and resend it', { id: u.id, expected: u.sha256, actual });
      }
    });
    const open = () => uploads.flatMap((_, i) => (out[i] === undefined ? [i] : []));
    const have = await layoutsOf(db, a.number, open().map((i) => chunkObject(uploads[i]!.id)));
    for (const i of open()) if (have.has(chunkObject(uploads[i]!.id))) out[i] = { stored: false };
    const site = open().length > 0 ? await siteOfAccount(db, a.name) : undefined;
    if (site) {
      for (const i of open()) {
        const { id, body } = uploads[i]!;
        const versions = proven.get(a.number, id);
        if (!versions) {
          out[i] = apiError('EDGE_PROOF_MISSING', `chunk ${id}: account ${a.name} migrates from site ${site.name}, and no block of it proving this chunk came to this node; nothing was stored`,
            'send the block that committed it first (migration/edge-proofs); 2baksa migrate does', { id, site: site.name });
        } else if (!versions.some((v) => matchesDataShards(body, v))) {
          const heights = versions.map((v) => v.height);
          out[i] = apiError('EDGE_PROOF_MISMATCH', `chunk ${id}: the uploaded bytes are not the ones block ${heights.join(', ')} of site ${site.name} committed; nothing was stored`,
            'read the chunk again from its shards on the gateways and resend it', { id, site: site.name, heights });
        }
      }
    }
    const toStore = open();
    if (toStore.length > 0) {
      // Held from admission until queued: from then on the queue counts them until they are recorded.
      const hold = await holds.admit(a.number, toStore.reduce((sum, i) => sum + uploads[i]!.body.length, 0), 'migration');
      try {
        await storeAdmitted(a, uploads, toStore, out);
      } finally {
        hold.release();
      }
    }
    return out.map((o) => {
      if (o === undefined) throw new Error('invariant violated: a chunk upload without an outcome');
      return o;
    });
  };
  /** Stores and queues the admitted uploads `toStore`, filling in their outcomes. */
  const storeAdmitted = async (a: { number: number }, uploads: readonly ChunkUpload[], toStore: readonly number[], out: Array<{ stored: boolean } | BaksaError | undefined>): Promise<void> => {
    const prefix = `chunk/${a.number.toString(16).padStart(8, '0')}`;
    const keys = toStore.map((i) => `${prefix}/${uploads[i]!.id}/${randomBytes(8).toString('hex')}`);
    const blobs = await store.putBlobs(toStore.map((i, j) => ({ key: keys[j]!, bytes: uploads[i]!.body })));
    const queued: Array<{ i: number; key: string; blob: BlobRef }> = [];
    toStore.forEach((i, j) => {
      const blob = blobs[j]!;
      if (blob instanceof BaksaError) out[i] = blob;
      else queued.push({ i, key: keys[j]!, blob });
    });
    const raced = await db.transaction(async (tx) => {
      const lost: typeof queued = [];
      for (const q of queued) {
        const u = uploads[q.i]!;
        const layout: ChunkLayout = { v: 1, kind: 'chunk', key: q.key, blob: q.blob, length: u.length, sha256: u.sha256 };
        const r = await tx.run('INSERT OR IGNORE INTO migration_pending(account, object_id, bytes, layout, queued_ms) VALUES (?, ?, ?, ?, ?)', [
          a.number, chunkObject(u.id), u.body.length, JSON.stringify(layout), deps.now(),
        ]);
        // changes 0: another upload of the same chunk got there first.
        if (r.changes === 0) lost.push(q);
        out[q.i] = { stored: r.changes > 0 };
      }
      return lost;
    });
    for (const q of raced) await store.deleteBlob(q.key, q.blob).catch(() => undefined);
    if (raced.length < queued.length) recordSoon(deps);
  };
  const idParams = {
    type: 'object',
    properties: { account: accountRef, id: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    required: ['account', 'id'],
    additionalProperties: false,
  };

  return [
    {
      method: 'POST', url: '/v1/accounts/:account/migration/need', tag: 'migration', roles, bodyLimit: deps.batchMax * 256 + 1024,
      summary: 'offer chunks: the answer lists the ids the cluster does not hold for this account (only those need to travel)',
      schema: {
        params: accountParams,
        body: {
          type: 'object', additionalProperties: false, required: ['chunks'],
          properties: {
            chunks: {
              type: 'array', minItems: 1, maxItems: deps.batchMax,
              items: {
                // sha256 is the agent's to check on upload; a peer migrating a dead gateway's chunks offers before it has read them.
                type: 'object', additionalProperties: false, required: ['id', 'length', 'sealedLength'],
                properties: {
                  id: { type: 'string', pattern: '^[0-9a-f]{64}$' },
                  length: { type: 'integer', minimum: 0 },
                  sealedLength: { type: 'integer', minimum: 1 },
                  sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
                },
              },
            },
          },
        },
      },
      handler: async ({ request, principal }) => {
        const a = await account(request, principal, true);
        requireResidency(a, deps.region, 'migration');
        const { chunks } = request.body as { chunks: Array<{ id: string }> };
        const have = await layoutsOf(db, a.number, chunks.map((c) => chunkObject(c.id)));
        const site = await siteOfAccount(db, a.name);
        return { need: [...new Set(chunks.map((c) => c.id))].filter((id) => !have.has(chunkObject(id))), site: site?.name ?? null };
      },
    },
    {
      method: 'POST', url: '/v1/accounts/:account/migration/edge-proofs', tag: 'migration', roles, rawBody: true,
      summary: "prove chunks with blocks of the account's edge site (quorum certificate, inclusion proof); proven chunks may then be uploaded",
      schema: { params: accountParams },
      handler: async ({ request, principal }) => {
        const a = await account(request, principal, true);
        const body = await readBody(request, EDGE_PROOF_BYTES_MAX);
        let proof: EdgeProof;
        try {
          proof = decodeEdgeProof(body);
        } catch (error) {
          if (error instanceof ProtocolError) throw badRequest('body', `not an edge proof: ${error.message}`);
          throw error;
        }
        const site = await siteOfAccount(db, a.name);
        if (!site || site.name !== proof.site) {
          throw apiError('EDGE_SITE_UNKNOWN', `account ${a.name} is not bound to site ${proof.site}${site ? ` (it is bound to ${site.name})` : ''}; nothing was proven`,
            'an administrator registers the site: 2baksa sites register SITE --validators validators.json', { site: proof.site });
        }
        const registry = new SignerRegistry(site.validators.map((v) => ({ id: v.id, publicKey: new Uint8Array(Buffer.from(v.publicKey, 'hex')) })));
        const verdict = verifyEdgeProof(proof, registry, a.name);
        if (!verdict.ok) {
          throw apiError('EDGE_PROOF_INVALID', `block ${verdict.height} of site ${site.name}: ${verdict.problem.reason}: ${verdict.problem.message}; nothing was proven`,
            "the gateway's ledger does not match the site's registered keys: check `2baksa ledger verify` on the gateway and the site's registration",
            { site: site.name, height: verdict.height, reason: verdict.problem.reason });
        }
        proven.add(a.number, verdict.chunks);
        return { site: site.name, chunks: verdict.chunks.size };
      },
    },
    {
      method: 'PUT', url: '/v1/accounts/:account/chunks/:id', tag: 'migration', roles, rawBody: true,
      summary: 'upload one sealed chunk object; it is stored only when its SHA-256 is the one offered',
      schema: {
        params: idParams,
        querystring: {
          type: 'object', additionalProperties: false, required: ['length', 'sha256'],
          properties: { length: { type: 'string', pattern: '^[0-9]{1,12}$' }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
        },
      },
      handler: async ({ request, reply, principal }) => {
        const a = await account(request, principal, true);
        const { id } = request.params as { id: string };
        const { length, sha256 } = request.query as { length: string; sha256: string };
        const body = await readBody(request, deps.chunkBytesMax);
        const [outcome] = await storeChunks(a, [{ id, length: Number(length), sha256, body }]);
        if (outcome instanceof BaksaError) throw outcome;
        void reply.status(outcome!.stored ? 201 : 200);
        return { id, ...outcome };
      },
    },
    {
      method: 'POST', url: '/v1/accounts/:account/chunks', tag: 'migration', roles, rawBody: true,
      summary: 'upload several sealed chunk objects in one body (shared/http/frames.ts); each is stored only when its SHA-256 is the one given',
      schema: { params: accountParams },
      handler: async ({ request, principal }) => {
        const a = await account(request, principal, true);
        const body = await readBody(request, deps.chunkBatchBytesMax);
        let frames: Frame[];
        try {
          frames = decodeFrames(body, { headBytes: CHUNK_FRAME_HEAD_BYTES, countMax: deps.chunkBatchCountMax, frameBytesMax: deps.chunkBytesMax, batchBytesMax: deps.chunkBatchBytesMax });
        } catch (error) {
          if (error instanceof ProtocolError) throw badRequest('body', `not a chunk batch: ${error.message}`);
          throw error;
        }
        const uploads = frames.map((f) => ({ ...decodeChunkFrameHead(f.head), body: f.bytes }));
        const outcomes = await storeChunks(a, uploads);
        return {
          results: outcomes.map((o, i) => {
            const id = uploads[i]!.id;
            if (!(o instanceof BaksaError)) return { id, stored: o.stored };
            return { id, error: { code: o.code, message: o.message, ...(o.hint ? { hint: o.hint } : {}), ...(o.details ? { details: o.details } : {}) } };
          }),
        };
      },
    },
    {
      method: 'PUT', url: '/v1/accounts/:account/snapshots/:snapshotId', tag: 'migration', roles, rawBody: true,
      summary: 'record a migrated snapshot once every chunk it names is stored; answers with the receipt',
      schema: {
        params: { type: 'object', properties: { account: accountRef, snapshotId: { type: 'string', pattern: SNAPSHOT_ID.source } }, required: ['account', 'snapshotId'], additionalProperties: false },
      },
      handler: async ({ request, reply, principal }) => {
        const a = await account(request, principal, true);
        const { snapshotId } = request.params as { snapshotId: string };
        let record: { createdMs?: unknown; rootChunks?: unknown; chunks?: unknown };
        try {
          record = JSON.parse((await readBody(request, deps.snapshotRecordBytesMax)).toString('utf8')) as typeof record;
        } catch (e) {
          if (e instanceof BaksaError) throw e;
          throw badRequest('body', `not JSON: ${(e as Error).message}`);
        }
        if (typeof record !== 'object' || record === null) throw badRequest('body', 'must be a JSON object');
        if (!Number.isSafeInteger(record.createdMs) || (record.createdMs as number) < 0) throw badRequest('createdMs', 'must be a time in ms');
        const isIds = (v: unknown, max: number): v is string[] => Array.isArray(v) && v.length <= max && v.every((x) => typeof x === 'string' && HEX64.test(x));
        if (!isIds(record.rootChunks, 64) || record.rootChunks.length === 0) throw badRequest('rootChunks', 'must be 1 to 64 chunk ids (64 hex digits)');
        if (!isIds(record.chunks, 10_000_000)) throw badRequest('chunks', 'must be a list of chunk ids (64 hex digits)');
        const chunks = [...new Set([...record.chunks, ...record.rootChunks])];
        // The receipt, signed by every node that finds it in its own ordered log (the agent counts a quorum).
        const receiptOf = async (position: number | null, chain: string | null, recordedMs: number) => {
          const replicas = deps.receipts?.replicas ?? null;
          const facts = position !== null && chain !== null && replicas !== null
            ? { cluster: deps.cluster, account: a.name, snapshotId, position, chain, chunks: chunks.length, replicas }
            : undefined;
          const signatures = facts && deps.receipts ? await deps.receipts.collect(facts).catch(() => []) : [];
          return { snapshotId, account: a.name, cluster: deps.cluster, position, chain, chunks: chunks.length, recordedMs, replicas, signatures };
        };
        const existing = await db.get<{ stored_ms: number }>('SELECT stored_ms FROM objects WHERE account = ? AND object_id = ?', [a.number, snapshotObject(snapshotId)]);
        if (existing) {
          void reply.status(200);
          const found = deps.receipts?.positionOf(a.number, snapshotId);
          return receiptOf(found?.position ?? null, found?.chain ?? null, existing.stored_ms);
        }
        await flushPendingRecords(deps, a.number);
        const have = await layoutsOf(db, a.number, chunks.map(chunkObject), false);
        const missing = chunks.filter((c) => !have.has(chunkObject(c)));
        if (missing.length > 0) {
          throw new BaksaError('CHUNKS_MISSING', `${missing.length} of the ${chunks.length} chunks of snapshot ${snapshotId} are not stored; nothing was recorded`, {
            exitCode: ExitCode.data,
            hint: 'offer them again (migration/need) and upload what is needed, then record the snapshot',
            details: { missing: missing.slice(0, 20), count: missing.length },
          });
        }
        const layout: SnapshotLayout = { v: 1, kind: 'snapshot', createdMs: record.createdMs as number, rootChunks: record.rootChunks, chunkCount: chunks.length };
        const at = deps.now();
        const ordered = await deps.submitOrdered({ type: 'RecordObject', account: a.number, objectId: snapshotObject(snapshotId), bytes: 0, atMs: at, layout: JSON.stringify(layout) });
        const refused = refusal(ordered.result);
        if (refused && refused.code !== 'OBJECT_EXISTS') throw refused;
        void reply.status(refused ? 200 : 201);
        if (refused) {
          const found = deps.receipts?.positionOf(a.number, snapshotId);
          return receiptOf(found?.position ?? null, found?.chain ?? null, at);
        }
        return receiptOf(ordered.position, ordered.chain, at);
      },
    },
    {
      method: 'GET', url: '/v1/accounts/:account/snapshots', tag: 'migration', roles,
      summary: 'the snapshots migrated into the cluster, oldest first',
      schema: { params: accountParams },
      handler: async ({ request, principal }) => {
        const a = await account(request, principal);
        const rows = await db.all<{ object_id: string; layout: string | null; stored_ms: number }>(
          "SELECT object_id, layout, stored_ms FROM objects WHERE account = ? AND object_id LIKE 'snapshot:%' ORDER BY seq",
          [a.number],
        );
        return rows.flatMap((r) => {
          try {
            const l = JSON.parse(r.layout ?? '') as SnapshotLayout;
            return [{ snapshotId: r.object_id.slice('snapshot:'.length), createdMs: l.createdMs, rootChunks: l.rootChunks, chunkCount: l.chunkCount, recordedMs: r.stored_ms }];
          } catch {
            return [];
          }
        });
      },
    },
    {
      method: 'POST', url: '/v1/accounts/:account/chunks/info', tag: 'migration', roles, bodyLimit: deps.batchMax * 80 + 1024,
      summary: 'plaintext length, sealed length and SHA-256 of stored chunks',
      schema: {
        params: accountParams,
        body: chunkIdsBody(deps.batchMax),
      },
      handler: async ({ request, principal }) => {
        const a = await account(request, principal);
        const { ids } = request.body as { ids: string[] };
        const have = await layoutsOf(db, a.number, ids.map(chunkObject));
        return ids.flatMap((id) => {
          const l = chunkLayout(have.get(chunkObject(id)));
          return l ? [{ id, length: l.length, sealedLength: l.blob.length, sha256: l.sha256 }] : [];
        });
      },
    },
    {
      method: 'POST', url: '/v1/accounts/:account/chunks/fetch', tag: 'migration', roles, rawResponse: true, bodyLimit: deps.chunkBatchCountMax * 80 + 1024,
      summary: 'several sealed chunk objects (frames: id, bytes), each read from any k shards (verified, healed)',
      schema: {
        params: accountParams,
        body: chunkIdsBody(deps.chunkBatchCountMax),
      },
      handler: async ({ request, reply, principal }) => {
        const a = await account(request, principal);
        const { ids } = request.body as { ids: string[] };
        const have = await layoutsOf(db, a.number, ids.map(chunkObject));
        const layouts = ids.map((id) => {
          const l = chunkLayout(have.get(chunkObject(id)));
          if (!l) throw new BaksaError('CHUNK_NOT_FOUND', `chunk ${id} of ${a.name} is not stored`, { exitCode: ExitCode.data, hint: 'migrate the snapshot first' });
          return l;
        });
        const total = layouts.reduce((n, l) => n + l.blob.length, 0);
        if (total > deps.chunkBatchBytesMax) {
          throw apiError('PAYLOAD_TOO_LARGE', `these ${ids.length} chunks are ${total} bytes, more than ${deps.chunkBatchBytesMax} in one answer`, 'ask for fewer chunks at once', { bytesMax: deps.chunkBatchBytesMax });
        }
        const reads = await store.getBlobs(layouts.map((l) => ({ key: l.key, ref: l.blob })));
        const frames = reads.map((r, i) => {
          if (r instanceof BaksaError) throw r;
          if (createHash('sha256').update(r.bytes).digest('hex') !== layouts[i]!.sha256) {
            throw new BaksaError('CHUNK_CORRUPT', `chunk ${ids[i]} read back with another SHA-256 than it was stored with`, { exitCode: ExitCode.data, hint: 'run `2baksa aggregator scrub`' });
          }
          return { head: Buffer.from(ids[i]!, 'hex'), bytes: r.bytes };
        });
        const body = encodeFrames(frames, CHUNK_ID_FRAME_HEAD_BYTES);
        return reply.header('content-type', 'application/octet-stream').header('content-length', String(body.length)).send(body);
      },
    },
    {
      method: 'GET', url: '/v1/accounts/:account/chunks/:id', tag: 'migration', roles, rawResponse: true,
      summary: 'one sealed chunk object, read from any k shards (verified, healed)',
      schema: { params: idParams },
      handler: async ({ request, reply, principal }) => {
        const a = await account(request, principal);
        const { id } = request.params as { id: string };
        const l = chunkLayout((await layoutsOf(db, a.number, [chunkObject(id)])).get(chunkObject(id)));
        if (!l) throw new BaksaError('CHUNK_NOT_FOUND', `chunk ${id} of ${a.name} is not stored`, { exitCode: ExitCode.data, hint: 'migrate the snapshot first' });
        const { bytes } = await store.getBlob(l.key, l.blob);
        if (createHash('sha256').update(bytes).digest('hex') !== l.sha256) {
          throw new BaksaError('CHUNK_CORRUPT', `chunk ${id} read back with another SHA-256 than it was stored with`, { exitCode: ExitCode.data, hint: 'run `2baksa aggregator scrub`' });
        }
        return reply.header('content-type', 'application/octet-stream').header('content-length', String(bytes.length)).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      },
    },
  ];
}
