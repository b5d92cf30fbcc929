// writeFully: a write that takes fewer bytes than given is continued where it stopped, at the right
// positions, until every byte is written; a write that takes none is an error, not a loop.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFully } from '../../../shared/storage/fsutil.ts';

/** A file handle whose writes take at most `most` bytes each, recording where they landed. */
function stingyHandle(most: number) {
  const file = new Uint8Array(64);
  const calls: Array<{ position: number | null; length: number }> = [];
  let offset = 0;
  const write = async (buf: Uint8Array, from: number, length: number, position: number | null) => {
    const n = Math.min(most, length);
    const at = position ?? offset;
    file.set(buf.subarray(from, from + n), at);
    if (position === null) offset += n;
    calls.push({ position, length });
    return { bytesWritten: n, buffer: buf };
  };
  return { fh: { write } as never, file, calls };
}

test('short writes are continued until every byte is in place, at a position or at the file offset', async () => {
  const data = Uint8Array.from({ length: 10 }, (_, i) => i + 1);
  const positioned = stingyHandle(3);
  await writeFully(positioned.fh, data, 20);
  assert.equal([...positioned.file.subarray(20, 30)], [...data]);
  assert.equal(positioned.calls.map((c) => c.position), [20, 23, 26, 29]);
  const appended = stingyHandle(4);
  await writeFully(appended.fh, data);
  assert.equal([...appended.file.subarray(0, 10)], [...data]);
  assert.equal(appended.calls.map((c) => c.length), [10, 6, 2]);
});

test('a write that takes nothing is an error', async () => {
  const stuck = stingyHandle(0);
  const error = await writeFully(stuck.fh, new Uint8Array(5), 0).then(() => undefined, (e: unknown) => e as NodeJS.ErrnoException);
  assert.is(error?.code, 'EIO');
  assert.is(stuck.calls.length, 1);
});

test.run();
