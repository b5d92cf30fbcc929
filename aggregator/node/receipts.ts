/**
 * Quorum-signed migration receipts (shared/crypto/receipt.ts), the node's side.
 *
 * `certify` signs a receipt only after checking it in this node's own copy of the ordered command log:
 * the command at `position` must be the RecordObject of `snapshot:<id>` for that account, naming that many
 * chunks, and the hash chain after it must be `chain` (a lagging node waits a little for its log to get
 * there). `collect` is what the node that recorded the snapshot does: its own signature, and every other
 * node's through the internal API (`POST /v1/internal/receipts`, replica certificates), each bounded by
 * a timeout; the agent counts them against the quorum. `positionOf` finds an earlier record again (an
 * agent that lost its receipt asks a second time).
 */
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { ApiClient } from '../../shared/http/api-client.ts';
import { signReceipt, type ReceiptFacts, type ReceiptSignature } from '../../shared/crypto/receipt.ts';
import type { TlsMaterial } from '../../shared/crypto/pki-read.ts';
import { findAccount } from '../accounts/queries.ts';
import { decodeAccountOp, type AccountsApp } from './accounts-app.ts';

export interface ReceiptCertifierOptions {
  db: Database;
  app: AccountsApp;
  cluster: string;
  node: string;
  replicas: number;
  tls: TlsMaterial;
  /** The other nodes' API clients (replica certificate). */
  peers: ReadonlyMap<string, ApiClient>;
  /** How long a lagging log is waited for, and a peer's signature. */
  waitMs?: number;
}

const refused = (why: string): BaksaError => new BaksaError('RECEIPT_REFUSED', `this node does not sign the receipt: ${why}`, { exitCode: ExitCode.data });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RecordCommand {
  type?: unknown;
  account?: unknown;
  objectId?: unknown;
  layout?: unknown;
}

export class ReceiptCertifier {
  private readonly waitMs: number;

  constructor(private readonly o: ReceiptCertifierOptions) {
    this.waitMs = o.waitMs ?? 5000;
  }

  /** Checks the facts in this node's log and signs them. Throws RECEIPT_REFUSED naming what does not hold. */
  async certify(facts: ReceiptFacts): Promise<ReceiptSignature> {
    const { app } = this.o;
    if (facts.cluster !== this.o.cluster) throw refused(`cluster ${facts.cluster} is not ${this.o.cluster}`);
    if (facts.replicas !== this.o.replicas) throw refused(`the cluster has ${this.o.replicas} replicas, not ${facts.replicas}`);
    for (const until = Date.now() + this.waitMs; app.position < facts.position && Date.now() < until; ) await sleep(20);
    const chain = app.chainAt(facts.position);
    const op = app.opAt(facts.position);
    if (!chain || !op) throw refused(`its log has no command at position ${facts.position}`);
    if (Buffer.from(chain).toString('hex') !== facts.chain) throw refused(`the chain at position ${facts.position} differs`);
    const command = decodeAccountOp(op) as RecordCommand;
    if (command.type !== 'RecordObject' || command.objectId !== `snapshot:${facts.snapshotId}`) throw refused(`position ${facts.position} is not the record of snapshot ${facts.snapshotId}`);
    const account = typeof command.account === 'number' ? await findAccount(this.o.db, command.account) : undefined;
    if (!account || account.name !== facts.account) throw refused(`position ${facts.position} records a snapshot of another account`);
    const chunks = (JSON.parse(typeof command.layout === 'string' ? command.layout : '{}') as { chunkCount?: unknown }).chunkCount;
    if (chunks !== facts.chunks) throw refused(`the record names ${String(chunks)} chunks, not ${facts.chunks}`);
    return signReceipt(facts, this.o.tls, this.o.node);
  }

  /** This node's signature and every peer's that comes within the timeout. */
  async collect(facts: ReceiptFacts): Promise<ReceiptSignature[]> {
    const own = await this.certify(facts);
    const others = await Promise.all(
      [...this.o.peers].map(async ([node, api]) => {
        try {
          const { body } = await Promise.race([
            api.request<ReceiptSignature>('POST', '/v1/internal/receipts', facts),
            sleep(this.waitMs + 2000).then(() => {
              throw new Error('timed out');
            }),
          ]);
          return body && body.node === node ? [body] : [];
        } catch {
          return [];
        }
      }),
    );
    return [own, ...others.flat()];
  }

  /** Position and chain of the record of `snapshot:<id>` for this account number (newest first), if in the log. */
  positionOf(account: number, snapshotId: string): { position: number; chain: string } | undefined {
    const { app } = this.o;
    for (let p = app.position; p >= 1; p--) {
      const op = app.opAt(p);
      if (!op) continue;
      let c: RecordCommand;
      try {
        c = decodeAccountOp(op) as RecordCommand;
      } catch {
        continue; // an operation apply refused as malformed
      }
      if (c.type === 'RecordObject' && c.account === account && c.objectId === `snapshot:${snapshotId}`) {
        return { position: p, chain: Buffer.from(app.chainAt(p)!).toString('hex') };
      }
    }
    return undefined;
  }
}
