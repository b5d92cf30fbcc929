/**
 * Shard store throughput with 1 MiB shards, fsync on (the production setting).
 *   put+commit   transactions of 4 shards: putStaged ×4 (in parallel), then commit
 *   put          direct put (stage and commit in one)
 *   get          hash-verified reads (page cache warm: what a restore of fresh data sees)
 * Baselines measured in the same run: a raw durable write (write temp, fsync, rename, fsync dir) and a
 * raw readFile, each of the same bytes; ratios say what the store costs on top.
 * BENCH_STORAGE_MIB sets the data volume per case (default 64). BENCH_STORAGE_DIR the directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsShardStore } from '../../shared/storage/index.ts';
import { writeFileDurable } from '../../shared/storage/fsutil.ts';
import type { BenchResult } from './_tools.ts';

const SHARD_BYTES = 1024 * 1024;
const TX_SHARDS = 4;

export async function run(): Promise<BenchResult[]> {
  const mib = Number(process.env.BENCH_STORAGE_MIB ?? 64);
  const base = process.env.BENCH_STORAGE_DIR ?? tmpdir();
  const dir = mkdtempSync(join(base, 'baksa-bench-storage-'));
  const shards = Math.max(TX_SHARDS, Math.floor(mib / TX_SHARDS) * TX_SHARDS);
  const datas = Array.from({ length: shards }, () => new Uint8Array(randomBytes(SHARD_BYTES)));
  const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
  const total = shards * SHARD_BYTES;
  try {
    // Baseline: raw durable writes.
    const rawDir = join(dir, 'raw');
    mkdirSync(rawDir);
    let t = performance.now();
    for (let i = 0; i < shards; i++) await writeFileDurable(join(rawDir, `f${i}`), join(rawDir, `f${i}.tmp`), datas[i]!, rawDir);
    const rawWrite = mbps(total, performance.now() - t);

    const store = await FsShardStore.open({ volumes: [join(dir, 'vol')], volumeReserveBytes: 0 });
    t = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < shards; i += TX_SHARDS) {
      const txId = `bench-${i}`;
      ids.push(...(await Promise.all(datas.slice(i, i + TX_SHARDS).map((d) => store.putStaged(txId, d)))));
      await store.commit(txId);
    }
    const putCommit = mbps(total, performance.now() - t);

    const store2 = await FsShardStore.open({ volumes: [join(dir, 'vol2')], volumeReserveBytes: 0 });
    t = performance.now();
    for (const d of datas) await store2.put(d);
    const put = mbps(total, performance.now() - t);
    await store2.close();

    t = performance.now();
    for (let i = 0; i < shards; i++) await readFile(join(rawDir, `f${i}`));
    const rawRead = mbps(total, performance.now() - t);

    t = performance.now();
    for (const id of ids) await store.get(id);
    const get = mbps(total, performance.now() - t);
    await store.close();

    const note = `${shards} × 1 MiB`;
    return [
      { name: 'storage raw durable write (baseline)', value: rawWrite, unit: 'MB/s', note },
      { name: 'storage putStaged+commit', value: putCommit, unit: 'MB/s', note: `${note}, ${(putCommit / rawWrite).toFixed(2)}× baseline` },
      { name: 'storage put', value: put, unit: 'MB/s', note: `${note}, ${(put / rawWrite).toFixed(2)}× baseline` },
      { name: 'storage raw read (baseline)', value: rawRead, unit: 'MB/s', note: `${note}, page cache warm` },
      { name: 'storage get (hash verified)', value: get, unit: 'MB/s', note: `${note}, ${(get / rawRead).toFixed(2)}× baseline` },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name.padEnd(40)} ${r.value.toFixed(1).padStart(9)} ${r.unit}${r.note ? `  (${r.note})` : ''}`);
}
