// bdSeq persistence (Sparkplug B 3.0: bdSeq increases with every new MQTT session, across restarts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBdSeqStore, MemoryBdSeqStore } from '../../../shared/membership/bdseq-store.ts';

const dir = mkdtempSync(join(tmpdir(), '2baksa-bdseq-'));

test('a file store starts from its initial value, counts up, and continues after a restart', () => {
  const path = join(dir, 'bdseq');
  const first = new FileBdSeqStore(path, { initial: () => 1000 });
  assert.is(first.current(), undefined);
  assert.equal([first.next(), first.next(), first.next()], [1000, 1001, 1002]);
  assert.is(first.current(), 1002);
  assert.is(readFileSync(path, 'utf8'), '1002\n');
  const again = new FileBdSeqStore(path, { initial: () => 5 });
  assert.is(again.next(), 1003);
});

test('an unreadable file falls back to the initial value (the clock by default: later than any earlier bdSeq)', () => {
  const path = join(dir, 'corrupt');
  writeFileSync(path, 'garbage\n');
  assert.is(new FileBdSeqStore(path, { initial: () => 77 }).next(), 77);
  const before = Date.now();
  writeFileSync(path, '-3');
  assert.ok(new FileBdSeqStore(path).next() >= before);
});

test('the memory store counts from its start', () => {
  const s = new MemoryBdSeqStore(4);
  assert.equal([s.next(), s.next()], [4, 5]);
  assert.is(s.current(), 5);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
