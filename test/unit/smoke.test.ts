import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatBytes, parseBytes, renderTable } from '../../shared/output.ts';

test('parseBytes reads binary multiples and refuses junk', () => {
  assert.is(parseBytes('64K'), 65536);
  assert.is(parseBytes('1.5GiB'), 1.5 * 1024 ** 3);
  assert.is(parseBytes('12'), 12);
  assert.is(parseBytes('12 apples'), undefined);
});

test('formatBytes and renderTable', () => {
  assert.is(formatBytes(2048), '2.0 KiB');
  const text = renderTable([{ a: 'x', n: 10 }], [
    { header: 'A', value: (r) => r.a },
    { header: 'N', value: (r) => r.n, align: 'right' },
  ]);
  assert.is(text, 'A   N\nx  10\n');
});

test.run();
