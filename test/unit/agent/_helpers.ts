// Shared helpers for the agent tests: temp dirs, a fresh agent state, tree comparison.
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, readdirSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initAgent, loadState, type AgentState } from '../../../agent/config/index.ts';
import { ChunkSealPool } from '../../../agent/chunks/seal-pool.ts';

export function tempDir(prefix = 'baksa-agent-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export async function freshState(root: string, sources: string[], profile = 'small-arm', extra: Partial<Parameters<typeof initAgent>[0]> = {}): Promise<AgentState> {
  const stateDir = join(root, 'state');
  await initAgent({ stateDir, name: 'gw1.test.example', profile, sources, ...extra });
  return loadState(stateDir);
}

/** Deterministic pseudo-random bytes (xorshift), so tests are reproducible. */
export function pseudoRandom(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Text lines like a sensor log. */
export function sensorLines(count: number, start = 0, id = 's1'): string {
  let s = '';
  for (let i = start; i < start + count; i++) s += `${1_790_000_000 + i},${id},${(20 + Math.sin(i / 50)).toFixed(3)},ok\n`;
  return s;
}

export interface TreeEntry {
  kind: string;
  mode: number;
  mtimeMs: number;
  content?: string;
  target?: string;
}

/** A map path → {kind, mode, mtime, content hash} of a tree, for byte/mode/mtime comparisons. */
export function snapshotTree(root: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.set(r, { kind: 'dir', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
        walk(p, r);
      } else if (st.isSymbolicLink()) {
        out.set(r, { kind: 'symlink', mode: 0, mtimeMs: 0, target: readlinkSync(p) });
      } else if (st.isFIFO() || st.isSocket()) {
        // Never opened: a FIFO would wait for a writer, a socket does not open.
        out.set(r, { kind: st.isFIFO() ? 'fifo' : 'socket', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        // Never opened either: a device's number is what it is.
        out.set(r, { kind: `${st.isCharacterDevice() ? 'char' : 'block'} device ${st.rdev}`, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
      } else {
        out.set(r, { kind: 'file', mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, content: readFileSync(p).toString('base64') });
      }
    }
  };
  walk(root, '');
  return out;
}

/**
 * Asserts two trees of `snapshotTree` are the same: paths, kinds, modes, bytes and link targets exactly,
 * mtimes within 2 µs. Node's utimes sets whole microseconds, so restore gives times back exact to the
 * microsecond (`utimesTimeOf`), and `mtimeMs`, a double, is itself ~240 ns coarse today: an exact or
 * millisecond-rounded comparison would fail when a time sits at a boundary. Names the paths that differ.
 */
export function assertSameTree(actual: Map<string, TreeEntry>, expected: Map<string, TreeEntry>): void {
  const differences: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (got === undefined) differences.push(`${path}: missing`);
    else if (got.kind !== want.kind || got.mode !== want.mode || got.content !== want.content || got.target !== want.target) differences.push(`${path}: ${got.kind} mode ${got.mode.toString(8)} differs from ${want.kind} mode ${want.mode.toString(8)} or in bytes`);
    else if (Math.abs(got.mtimeMs - want.mtimeMs) > 0.002) differences.push(`${path}: mtime ${got.mtimeMs} instead of ${want.mtimeMs}`);
  }
  for (const path of actual.keys()) if (!expected.has(path)) differences.push(`${path}: not in the source`);
  assert.equal(differences, [], `the trees differ:\n${differences.slice(0, 20).join('\n')}`);
}

/**
 * Counts the chunks sealer threads seal from now on (`ChunkSealPool.seal` answering with shards, not
 * with undefined); `restore` puts the method back.
 */
export function countSealerSeals(): { count: () => number; restore: () => void } {
  const seal = ChunkSealPool.prototype.seal;
  let sealed = 0;
  ChunkSealPool.prototype.seal = async function (...args) {
    const out = await seal.apply(this, args);
    if (out) sealed++;
    return out;
  };
  return { count: () => sealed, restore: () => void (ChunkSealPool.prototype.seal = seal) };
}
