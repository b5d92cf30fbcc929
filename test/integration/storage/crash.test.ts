/**
 * Crash safety of the filesystem shard store (DESIGN §5: a committed transaction is never rolled back).
 * A child process writes and commits shards in a loop and is killed with SIGKILL at random moments,
 * again and again on the same volumes. After every kill the store is opened (which runs recovery) and
 * every shard the child reported as committed must be there, byte-identical (hash verified); every
 * shard it reported synced in a tx left staged must still be staged in that tx; no committed file may
 * be torn; no staged file may be torn (staging writes skip fsync: a process crash still must never
 * leave a short file under a shard's name); no temp file may survive; no half-committed tx may remain.
 * SIGKILL tests process crashes (the page cache survives), not power loss.
 * Seed: STORAGE_CRASH_SEED (printed on failure to replay the same kill schedule).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsShardStore } from '../../../shared/storage/index.ts';

const ITERATIONS = 18;
const seed = Number(process.env.STORAGE_CRASH_SEED ?? (Date.now() % 1_000_000));
const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'baksa-crash-'));
const volumes = [join(root, 'v1'), join(root, 'v2')];

let prng = seed || 1;
const rand = (n: number) => {
  prng = (Math.imul(prng, 1103515245) + 12345) >>> 0;
  return (prng >>> 8) % n;
};

interface RunResult {
  committed: string[];
  /** [txId, shard id] pairs the child synced and left staged. */
  synced: Array<[string, string]>;
  readyLine: string;
}

function runAndKill(iteration: number, delayMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, String(seed * 100 + iteration), ...volumes], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let readyLine = '';
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (readyLine === '' && stdout.includes('\n')) {
        readyLine = stdout.slice(0, stdout.indexOf('\n'));
        timer = setTimeout(() => proc.kill('SIGKILL'), delayMs);
      }
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child ended by itself (code ${code}, signal ${signal}): ${stderr.slice(0, 2000)}`));
        return;
      }
      // Only complete lines: a line cut by the kill is not a report.
      const lines = stdout.split('\n').slice(0, -1);
      const synced = lines.filter((l) => l.startsWith('S ')).map((l) => l.slice(2).split(' ') as [string, string]);
      resolve({ committed: lines.filter((l) => l.startsWith('C ')).map((l) => l.slice(2)), synced, readyLine });
    });
  });
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

test(`committed shards survive SIGKILL at random moments (seed ${seed})`, async () => {
  const reported = new Set<string>();
  let commitsFinishedByRecovery = 0;
  let syncedChecked = 0;
  let totalKills = 0;
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const delayMs = 20 + rand(400);
      const { committed, synced } = await runAndKill(i, delayMs);
      totalKills++;
      for (const id of committed) reported.add(id);

      const store = await FsShardStore.open({ volumes, volumeReserveBytes: 0 });
      commitsFinishedByRecovery += store.recovery.commitsFinished.length;
      assert.is(store.recovery.tornStagedRemoved, 0, 'a process crash leaves no torn staged shard');
      const staged = new Map((await store.stagedTransactions()).map((t) => [t.txId, new Set(t.shardIds)]));
      for (const [txId, id] of synced) {
        assert.ok(staged.get(txId)?.has(id), `synced shard ${id} is still staged in ${txId}`);
        syncedChecked++;
      }
      for (const id of reported) {
        const data = await store.get(id); // throws SHARD_MISSING / SHARD_CORRUPT
        assert.is(createHash('sha256').update(data).digest('hex'), id);
      }
      for (const v of volumes) {
        for (const file of walk(join(v, 'committed'))) {
          const name = file.slice(file.lastIndexOf('/') + 1);
          assert.ok(/^[0-9a-f]{64}$/.test(name), `only shard files in committed/: ${file}`);
          assert.is(createHash('sha256').update(readFileSync(file)).digest('hex'), name, `torn or wrong file ${file}`);
        }
        assert.equal(readdirSync(join(v, 'tmp')), [], 'tmp/ is empty after recovery');
        for (const file of walk(join(v, 'staging'))) {
          assert.not.ok(file.endsWith('.tmp'), `no temp file survives recovery: ${file}`);
          assert.not.ok(file.endsWith('COMMITTING'), `no half-committed tx survives recovery: ${file}`);
        }
      }
      // Staged-but-uncommitted transactions are the caller's to roll back: do it, as the 2PC timeout would.
      for (const tx of await store.stagedTransactions()) await store.abort(tx.txId);
      const listed = new Set<string>();
      for await (const id of store.list()) listed.add(id);
      for (const id of reported) assert.ok(listed.has(id), `list() includes ${id}`);
      await store.close();
    }
  } catch (err) {
    console.error(`storage crash test failed; replay with STORAGE_CRASH_SEED=${seed}`);
    throw err;
  }
  assert.is(totalKills, ITERATIONS);
  assert.ok(reported.size > 0, 'the child committed something');
  console.log(`  ${ITERATIONS} kills, ${reported.size} committed shards verified, ${syncedChecked} synced staged shards found, ${commitsFinishedByRecovery} interrupted commits finished by recovery`);
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
