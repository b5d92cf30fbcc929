/**
 * Persist records as frame payloads, writing each request batch once.
 *
 * The core persists a log entry up to three times as it advances (pre-prepare accepted, prepared,
 * committed), and each time the entry carries the pre-prepare with its whole batch, once more in each
 * certificate: six copies of every batch. Here a pre-prepare in an `entry` record whose batch was
 * already written (earlier in the file, or earlier in the same record) is written with an empty batch;
 * on reading, the batch is put back from the earlier copy with the same digest. A reference is
 * recognisable because a real empty batch always has the null digest (the core refuses a pre-prepare
 * whose digest is not its batch's). `view` records (new-views) are written whole.
 *
 * Encoder and decoder keep the same table (digest -> batch) by seeing the same records in the same
 * order; the encoder forgets batches at or below a stable checkpoint (their entries are gone), the
 * decoder keeps every batch of the file it reads.
 */
import {
  NULL_DIGEST,
  decodePersistRecord,
  encodePersistRecord,
  type CodecOptions,
  type DecodeResult,
  type PersistedEntry,
  type PersistRecord,
  type PrePrepare,
  type Request,
} from '../consensus/index.ts';

interface KnownBatch {
  readonly seq: number;
  readonly batch: readonly Request[];
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const NULL_HEX = hex(NULL_DIGEST);

export class PersistRecordCodec {
  private readonly known = new Map<string, KnownBatch>();

  constructor(private readonly codec: Partial<CodecOptions>) {}

  /** The payload of one record; batches already written become references. */
  encode(record: PersistRecord): Uint8Array {
    if (record.kind === 'stable') this.forgetUpTo(record.seq);
    if (record.kind !== 'entry') return encodePersistRecord(record);
    const e = record.entry;
    const elide = (pp: PrePrepare | undefined): PrePrepare | undefined => {
      if (!pp || pp.batch.length === 0) return pp;
      const key = hex(pp.digest);
      if (this.known.has(key)) return { ...pp, batch: [] };
      this.known.set(key, { seq: pp.seq, batch: pp.batch });
      return pp;
    };
    const entry: PersistedEntry = {
      seq: e.seq,
      prePrepare: elide(e.prePrepare),
      preparedCert: e.preparedCert && { ...e.preparedCert, prePrepare: elide(e.preparedCert.prePrepare)! },
      commitCert: e.commitCert && { ...e.commitCert, prePrepare: elide(e.commitCert.prePrepare)! },
    };
    return encodePersistRecord({ kind: 'entry', entry });
  }

  /** Decodes one payload and puts referenced batches back; a dangling reference is an error. */
  decode(payload: Uint8Array): DecodeResult<PersistRecord> {
    const decoded = decodePersistRecord(payload, this.codec);
    if (!decoded.ok || decoded.value.kind !== 'entry') return decoded;
    const e = decoded.value.entry;
    let missing: string | undefined;
    const restore = (pp: PrePrepare | undefined): PrePrepare | undefined => {
      if (!pp) return pp;
      const key = hex(pp.digest);
      if (pp.batch.length > 0) {
        this.known.set(key, { seq: pp.seq, batch: pp.batch });
        return pp;
      }
      if (key === NULL_HEX) return pp;
      const known = this.known.get(key);
      if (!known) {
        missing = key;
        return pp;
      }
      return { ...pp, batch: known.batch };
    };
    const entry: PersistedEntry = {
      seq: e.seq,
      prePrepare: restore(e.prePrepare),
      preparedCert: e.preparedCert && { ...e.preparedCert, prePrepare: restore(e.preparedCert.prePrepare)! },
      commitCert: e.commitCert && { ...e.commitCert, prePrepare: restore(e.commitCert.prePrepare)! },
    };
    if (missing) {
      return { ok: false, error: { code: 'MESSAGE_SCHEMA', message: `entry ${e.seq} refers to batch ${missing.slice(0, 16)}… not written before it` } };
    }
    return { ok: true, value: { kind: 'entry', entry } };
  }

  private forgetUpTo(seq: number): void {
    for (const [key, known] of this.known) if (known.seq <= seq) this.known.delete(key);
  }
}
