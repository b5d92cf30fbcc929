/**
 * The agent's side of the cloud migration API (aggregator/api/routes-migration.ts), typed: offer chunks
 * and learn which the cloud lacks, upload sealed chunk objects, record a snapshot and keep its receipt,
 * and for restore list the migrated snapshots and fetch chunks back. Every call names the agent's own
 * account (the certificate's CN); the cluster refuses any other.
 *
 * The transport is anything with ApiClient's `request` (mutual TLS 1.3 in production, a fake in unit
 * tests). Answers are checked for shape here, so a wrong or truncated answer fails with a clear
 * CLOUD_BAD_ANSWER instead of a TypeError deep in the migration.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { RequestOptions } from '../../shared/http/api-client.ts';
import { ByteParts } from '../../shared/http/body.ts';
import type { ReceiptSignature } from '../../shared/crypto/receipt.ts';
import { CHUNK_FRAME_HEAD_BYTES, CHUNK_ID_FRAME_HEAD_BYTES, decodeFrames, encodeChunkFrameHead, encodeFrameParts } from '../../shared/http/frames.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { StatePaths } from '../config/state-dir.ts';
import { FailoverTransport, serverList, type FailoverOptions } from '../../shared/http/failover.ts';

export { FailoverTransport, serverList };

/** Entries per `need` and `chunks/info` call: the cluster refuses more. */
export const CLOUD_BATCH_MAX = 2048;

/**
 * Chunks and bytes per batched upload (`putChunks`), well under the cluster's limits (64 chunks, 40 MiB).
 * A few MiB a request already pays the per-request costs off; more would only hold more in memory.
 */
export const UPLOAD_BATCH_CHUNKS_MAX = 32;
export const UPLOAD_BATCH_BYTES_MAX = 4 * 1024 * 1024;
/** The same for batched downloads (`getChunks`, restore from the cloud). */
export const FETCH_BATCH_CHUNKS_MAX = 32;
export const FETCH_BATCH_BYTES_MAX = 4 * 1024 * 1024;
/** Largest batched download answer decoded (ApiClient refuses larger responses before this). */
const FETCH_ANSWER_BYTES_MAX = 64 * 1024 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;

/** What the agent says about a chunk it offers: ids and lengths, and the SHA-256 of its sealed object. */
export interface ChunkOffer {
  id: string;
  /** Plaintext bytes. */
  length: number;
  /** Bytes of the sealed object (what is uploaded). */
  sealedLength: number;
  /** SHA-256 (hex) of the sealed object. */
  sha256: string;
}

/** What the cloud says about a chunk it holds: the same fields as an offer. */
export type ChunkInfo = ChunkOffer;

export interface SnapshotRecordBody {
  createdMs: number;
  rootChunks: string[];
  /** Every chunk id the snapshot needs (manifest chunks included), each once. */
  chunks: string[];
}

/** The cluster's receipt for a recorded snapshot (position and chain are null when it was recorded earlier). */
export interface SnapshotReceipt {
  snapshotId: string;
  account: string;
  cluster: string;
  position: number | null;
  chain: string | null;
  chunks: number;
  recordedMs: number;
  /** The cluster's replica count and the nodes' signatures over the receipt (shared/crypto/receipt.ts); absent from clusters that do not sign. */
  replicas?: number | null;
  signatures?: ReceiptSignature[];
}

export interface CloudSnapshot {
  snapshotId: string;
  createdMs: number;
  rootChunks: string[];
  chunkCount: number;
  recordedMs: number;
}

/** The part of ApiClient this module uses. */
export interface ApiTransport {
  request<T = unknown>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<{ status: number; body: T }>;
  close(): void;
}

/** Where the cloud is and who the agent is there: `--server`, `--tls-dir`, `--cert-name`. */
export interface CloudTarget {
  /** One aggregator node's URL, or several separated by commas (tried in turn: FailoverTransport). */
  server: string;
  tlsDir: string;
  certName: string;
}

/** Largest node list taken from a cluster. */
const CLUSTER_NODES_MAX = 256;

/** The API URLs in a cluster's answer to GET /v1/cluster/nodes (anything else in it is left out). */
export function clusterNodeUrls(body: unknown): string[] {
  const nodes = isObject(body) && Array.isArray(body.nodes) ? body.nodes.slice(0, CLUSTER_NODES_MAX) : [];
  return nodes.flatMap((n: unknown) => (isObject(n) && typeof n.apiUrl === 'string' && /^https:\/\/[^\s,]{1,300}$/.test(n.apiUrl) ? [n.apiUrl] : []));
}

/** How a gateway connects to the cloud: the nodes it learnt kept in its state directory, failovers logged. */
export function gatewayConnectOptions(paths: StatePaths, logger: Logger): ConnectOptions {
  return {
    onSwitch: (from, to, e) => logger.warn({ from, to, err: e.message }, 'an aggregator node did not answer: going on with the next'),
    knownNodesPath: paths.cloudNodes,
    logger,
  };
}

export interface ConnectOptions {
  onSwitch?: FailoverOptions['onSwitch'];
  /**
   * Where the nodes learnt of the cluster are kept (STATE/cloud-nodes.json), so that a run whose
   * configured node is down still finds the others; kept per configured `server` (another one starts
   * afresh).
   */
  knownNodesPath?: string;
  logger?: Logger;
}

async function rememberedNodes(path: string | undefined, server: string): Promise<string[]> {
  if (path === undefined) return [];
  const { readFile } = await import('node:fs/promises');
  try {
    const kept = JSON.parse(await readFile(path, 'utf8')) as unknown;
    return isObject(kept) && kept.server === server ? clusterNodeUrls(kept) : [];
  } catch {
    return []; // none yet, or unreadable: learnt again at this run
  }
}

async function rememberNodes(path: string, server: string, urls: readonly string[]): Promise<void> {
  const { writeFileDurable } = await import('../../shared/crypto/durable-file.ts');
  await writeFileDurable(path, `${JSON.stringify({ server, nodes: urls.map((apiUrl) => ({ apiUrl })) }, null, 2)}\n`);
}

function badAnswer(what: string, detail: string): BaksaError {
  return new BaksaError('CLOUD_BAD_ANSWER', `the cloud's answer to ${what} is not what this agent understands: ${detail}`, {
    hint: 'check that --server is an aggregator node of the same 2baksa version',
    exitCode: ExitCode.unavailable,
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isIdList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && HEX64.test(x));

function checkInfo(v: unknown, what: string): ChunkInfo {
  if (!isObject(v) || typeof v.id !== 'string' || !HEX64.test(v.id) || !isCount(v.length) || !isCount(v.sealedLength) || typeof v.sha256 !== 'string' || !HEX64.test(v.sha256)) {
    throw badAnswer(what, `bad chunk entry ${JSON.stringify(v)?.slice(0, 200)}`);
  }
  return { id: v.id, length: v.length, sealedLength: v.sealedLength, sha256: v.sha256 };
}

/**
 * Checks a receipt's quorum signatures (shared/crypto/receipt.ts) against the cluster CA (PEM). A cluster
 * that signs says how many replicas it has; its receipt then needs a quorum of valid replica signatures,
 * or RECEIPT_UNVERIFIED (the snapshot is not taken as migrated, and the next run asks again). A receipt
 * without a replica count comes from a cluster that does not sign, and is taken as it is.
 */
export async function checkReceiptSignatures(receipt: SnapshotReceipt, caPem: string): Promise<void> {
  if (receipt.replicas === undefined || receipt.replicas === null) return;
  const { verifyReceipt } = await import('../../shared/crypto/receipt.ts');
  const { position, chain } = receipt;
  const verdict = position !== null && chain !== null
    ? verifyReceipt({ cluster: receipt.cluster, account: receipt.account, snapshotId: receipt.snapshotId, position, chain, chunks: receipt.chunks, replicas: receipt.replicas }, receipt.signatures ?? [], caPem)
    : undefined;
  if (!verdict?.ok) {
    throw new BaksaError('RECEIPT_UNVERIFIED', `the receipt of snapshot ${receipt.snapshotId} has ${verdict?.valid.length ?? 0} valid signatures of the cluster's nodes, ${verdict?.quorum ?? '(no position)'} needed`, {
      exitCode: ExitCode.data,
      hint: 'the snapshot is not counted as migrated; the next run asks for the receipt again (check that the aggregator nodes are up)',
      details: { snapshotId: receipt.snapshotId, problems: verdict?.problems.slice(0, 8) ?? [] },
    });
  }
}

const isSignature = (s: unknown): s is ReceiptSignature =>
  isObject(s) && typeof s.node === 'string' && typeof s.certificate === 'string' && s.certificate.length < 16_384 && typeof s.signature === 'string' && s.signature.length < 1024;

function checkReceipt(v: unknown, what: string): SnapshotReceipt {
  if (
    !isObject(v) ||
    typeof v.snapshotId !== 'string' ||
    typeof v.account !== 'string' ||
    typeof v.cluster !== 'string' ||
    !(v.position === null || isCount(v.position)) ||
    !(v.chain === null || typeof v.chain === 'string') ||
    !isCount(v.chunks) ||
    !isCount(v.recordedMs) ||
    !(v.replicas === undefined || v.replicas === null || isCount(v.replicas)) ||
    !(v.signatures === undefined || (Array.isArray(v.signatures) && v.signatures.length <= 256 && v.signatures.every(isSignature)))
  ) {
    throw badAnswer(what, `bad receipt ${JSON.stringify(v)?.slice(0, 300)}`);
  }
  return {
    ...(v.replicas !== undefined ? { replicas: v.replicas as number | null } : {}),
    ...(v.signatures !== undefined ? { signatures: (v.signatures as ReceiptSignature[]).map((s) => ({ node: s.node, certificate: s.certificate, signature: s.signature })) } : {}),
    snapshotId: v.snapshotId,
    account: v.account,
    cluster: v.cluster,
    position: v.position,
    chain: v.chain,
    chunks: v.chunks,
    recordedMs: v.recordedMs,
  };
}

function checkSnapshot(v: unknown, what: string): CloudSnapshot {
  if (!isObject(v) || typeof v.snapshotId !== 'string' || !isCount(v.createdMs) || !isIdList(v.rootChunks) || !isCount(v.chunkCount) || !isCount(v.recordedMs)) {
    throw badAnswer(what, `bad snapshot entry ${JSON.stringify(v)?.slice(0, 300)}`);
  }
  return { snapshotId: v.snapshotId, createdMs: v.createdMs, rootChunks: v.rootChunks, chunkCount: v.chunkCount, recordedMs: v.recordedMs };
}

export class CloudClient {
  private readonly base: string;

  constructor(
    private readonly api: ApiTransport,
    readonly account: string,
  ) {
    this.base = `/v1/accounts/${encodeURIComponent(account)}`;
  }

  /**
   * Connects with mutual TLS (the certificate `certName` and the CA from `tlsDir`) to the nodes of
   * `server`, then those remembered at `knownNodesPath`, and asks the cluster for its node list: nodes it did
   * not know are tried after those, and remembered. A cluster that gives no list (an older one) leaves
   * the given nodes alone.
   */
  static async connect(target: CloudTarget, account: string, options: ConnectOptions = {}): Promise<CloudClient> {
    const { ApiClient } = await import('../../shared/http/api-client.ts');
    const { loadTlsMaterial } = await import('../../shared/crypto/pki.ts');
    const tls = loadTlsMaterial(target.tlsDir, target.certName);
    const given = serverList(target.server);
    // Every call of the migration API is idempotent: any request a node did not answer goes to the next.
    const transport = new FailoverTransport(given, (url) => new ApiClient(url, tls), options.onSwitch ? { onSwitch: options.onSwitch } : {});
    const remembered = await rememberedNodes(options.knownNodesPath, target.server);
    transport.add(remembered);
    const client = new CloudClient(transport, account);
    try {
      const listed = clusterNodeUrls((await transport.request<unknown>('GET', '/v1/cluster/nodes')).body);
      if (transport.add(listed) > 0) options.logger?.info({ nodes: transport.known }, "learnt the cluster's nodes");
      // What the cluster lists now is remembered (a node it no longer lists is forgotten at the next run).
      const learnt = listed.filter((url) => !given.includes(url));
      if (options.knownNodesPath !== undefined && learnt.join() !== remembered.join()) await rememberNodes(options.knownNodesPath, target.server, learnt);
    } catch (error) {
      // No list (a cluster from before it, a node down): the requests that follow tell what is wrong.
      options.logger?.debug({ err: (error as Error).message }, "the cluster's node list was not read");
    }
    return client;
  }

  close(): void {
    this.api.close();
  }

  /** Offers up to CLOUD_BATCH_MAX chunks; returns the ids the cloud does not hold for this account. */
  async need(chunks: readonly ChunkOffer[]): Promise<string[]> {
    return (await this.offer(chunks)).need;
  }

  /**
   * Offers up to CLOUD_BATCH_MAX chunks: the ids the cloud does not hold, and the edge site the account is
   * bound to there (null: none), whose blocks must then prove each chunk before its upload.
   */
  async offer(chunks: ReadonlyArray<Omit<ChunkOffer, 'sha256'> & { sha256?: string }>): Promise<{ need: string[]; site: string | null }> {
    if (chunks.length === 0) return { need: [], site: null };
    if (chunks.length > CLOUD_BATCH_MAX) throw new Error(`invariant violated: need() with ${chunks.length} chunks (at most ${CLOUD_BATCH_MAX})`);
    const { body } = await this.api.request<unknown>('POST', `${this.base}/migration/need`, { chunks });
    if (!isObject(body) || !isIdList(body.need)) throw badAnswer('migration/need', 'no "need" list of chunk ids');
    const offered = new Set(chunks.map((c) => c.id));
    const stranger = body.need.find((id) => !offered.has(id));
    if (stranger) throw badAnswer('migration/need', `it asks for chunk ${stranger}, which was not offered`);
    const site = body.site ?? null;
    if (site !== null && typeof site !== 'string') throw badAnswer('migration/need', '"site" is neither a name nor null');
    return { need: body.need, site };
  }

  /** Sends an edge proof (encoded, shared/ledger/edge-proof.ts); returns how many chunks the cloud took as proven. */
  async proveEdge(proof: Uint8Array): Promise<number> {
    const { body } = await this.api.request<unknown>('POST', `${this.base}/migration/edge-proofs`, proof);
    if (!isObject(body) || !isCount(body.chunks)) throw badAnswer('migration/edge-proofs', 'no "chunks" count');
    return body.chunks;
  }

  /** Uploads one sealed chunk object; `stored` is false when the cloud had it already. */
  async putChunk(offer: ChunkOffer, sealed: Uint8Array): Promise<{ stored: boolean }> {
    const query = `length=${offer.length}&sha256=${offer.sha256}`;
    const { body } = await this.api.request<unknown>('PUT', `${this.base}/chunks/${offer.id}?${query}`, sealed);
    if (!isObject(body) || typeof body.stored !== 'boolean') throw badAnswer(`PUT chunks/${offer.id}`, 'no "stored" flag');
    return { stored: body.stored };
  }

  /**
   * Uploads several sealed chunk objects in one request (at most UPLOAD_BATCH_CHUNKS_MAX, and
   * UPLOAD_BATCH_BYTES_MAX unless one chunk alone is larger). One outcome per chunk, in order: whether
   * the cloud stored it (false: it had it), or its refusal of that chunk as a BaksaError; the others
   * of the batch are stored regardless. A failure of the request itself throws.
   */
  async putChunks(chunks: ReadonlyArray<{ offer: ChunkOffer; sealed: Uint8Array }>): Promise<Array<{ stored: boolean } | BaksaError>> {
    if (chunks.length === 0) return [];
    if (chunks.length > UPLOAD_BATCH_CHUNKS_MAX) throw new Error(`invariant violated: putChunks() with ${chunks.length} chunks (at most ${UPLOAD_BATCH_CHUNKS_MAX})`);
    const body = new ByteParts(encodeFrameParts(chunks.map(({ offer, sealed }) => ({ head: encodeChunkFrameHead(offer), bytes: sealed })), CHUNK_FRAME_HEAD_BYTES));
    const { body: answer } = await this.api.request<unknown>('POST', `${this.base}/chunks`, body);
    const results = isObject(answer) ? answer.results : undefined;
    if (!Array.isArray(results) || results.length !== chunks.length) throw badAnswer('POST chunks', `not one result for each of the ${chunks.length} chunks`);
    return results.map((r: unknown, i) => {
      const id = chunks[i]!.offer.id;
      if (!isObject(r) || r.id !== id) throw badAnswer('POST chunks', `result ${i} is not about chunk ${id}`);
      if (typeof r.stored === 'boolean') return { stored: r.stored };
      const e = r.error;
      if (!isObject(e) || typeof e.code !== 'string' || typeof e.message !== 'string') throw badAnswer('POST chunks', `result ${i} has neither "stored" nor an error`);
      return new BaksaError(e.code.slice(0, 100), e.message.slice(0, 2000), {
        exitCode: ExitCode.data,
        ...(typeof e.hint === 'string' ? { hint: e.hint.slice(0, 1000) } : {}),
        ...(isObject(e.details) ? { details: e.details } : {}),
      });
    });
  }

  /** Records a snapshot whose chunks are all stored; throws CHUNKS_MISSING (details.missing, details.count) otherwise. */
  async putSnapshot(snapshotId: string, record: SnapshotRecordBody): Promise<SnapshotReceipt> {
    const bytes = new TextEncoder().encode(JSON.stringify(record));
    const { body } = await this.api.request<unknown>('PUT', `${this.base}/snapshots/${encodeURIComponent(snapshotId)}`, bytes);
    return checkReceipt(body, `PUT snapshots/${snapshotId}`);
  }

  /** The snapshots migrated for this account, oldest first. */
  async listSnapshots(): Promise<CloudSnapshot[]> {
    const { body } = await this.api.request<unknown>('GET', `${this.base}/snapshots`);
    if (!Array.isArray(body)) throw badAnswer('GET snapshots', 'not a list');
    return body.map((s) => checkSnapshot(s, 'GET snapshots'));
  }

  /** Lengths and hashes of the chunks of `ids` the cloud holds (any number of ids; asked in batches). */
  async chunkInfo(ids: readonly string[]): Promise<ChunkInfo[]> {
    const out: ChunkInfo[] = [];
    for (const batch of batches(ids, CLOUD_BATCH_MAX)) {
      const { body } = await this.api.request<unknown>('POST', `${this.base}/chunks/info`, { ids: batch });
      if (!Array.isArray(body)) throw badAnswer('chunks/info', 'not a list');
      for (const entry of body) out.push(checkInfo(entry, 'chunks/info'));
    }
    return out;
  }

  /**
   * Several sealed chunk objects in one request (at most FETCH_BATCH_CHUNKS_MAX; keep their sealed
   * lengths within FETCH_BATCH_BYTES_MAX): the bytes of each id, in order.
   */
  async getChunks(ids: readonly string[]): Promise<Uint8Array[]> {
    if (ids.length === 0) return [];
    if (ids.length > FETCH_BATCH_CHUNKS_MAX) throw new Error(`invariant violated: getChunks() with ${ids.length} chunks (at most ${FETCH_BATCH_CHUNKS_MAX})`);
    const { body } = await this.api.request<Buffer>('POST', `${this.base}/chunks/fetch`, { ids }, { responseBytes: true });
    if (!(body instanceof Uint8Array)) throw badAnswer('POST chunks/fetch', 'no bytes');
    let frames;
    try {
      frames = decodeFrames(body, { headBytes: CHUNK_ID_FRAME_HEAD_BYTES, countMax: ids.length, frameBytesMax: FETCH_ANSWER_BYTES_MAX, batchBytesMax: FETCH_ANSWER_BYTES_MAX });
    } catch (error) {
      if (error instanceof ProtocolError) throw badAnswer('POST chunks/fetch', error.message);
      throw error;
    }
    if (frames.length !== ids.length) throw badAnswer('POST chunks/fetch', `${frames.length} chunks for ${ids.length} asked`);
    return frames.map((f, i) => {
      if (Buffer.from(f.head).toString('hex') !== ids[i]) throw badAnswer('POST chunks/fetch', `chunk ${i} is not ${ids[i]}`);
      return f.bytes;
    });
  }

  /** One sealed chunk object. */
  async getChunk(id: string): Promise<Uint8Array> {
    const { body } = await this.api.request<Buffer>('GET', `${this.base}/chunks/${id}`, undefined, { responseBytes: true });
    if (!(body instanceof Uint8Array)) throw badAnswer(`GET chunks/${id}`, 'no bytes');
    return body;
  }
}

/**
 * Chunks cut into request batches: consecutive runs of at most `countMax` chunks and `bytesMax` sealed
 * bytes (a chunk larger than `bytesMax` goes alone), order kept.
 */
export function sizedGroups<T extends { sealedLength: number }>(items: readonly T[], countMax: number, bytesMax: number): T[][] {
  const groups: T[][] = [];
  let bytes = 0;
  for (const item of items) {
    const last = groups.at(-1);
    if (!last || last.length >= countMax || bytes + item.sealedLength > bytesMax) {
      groups.push([item]);
      bytes = item.sealedLength;
    } else {
      last.push(item);
      bytes += item.sealedLength;
    }
  }
  return groups;
}

/** `items` cut into consecutive lists of at most `size`. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new Error(`invariant violated: batch size ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
