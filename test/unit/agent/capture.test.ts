// MQTT sensor capture: topic filters, line format, and rolling logs rotated by size and by age.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RotatingLog, captureLine, logFileName, shouldRotate, slugOf, topicMatches } from '../../../agent/sources/index.ts';
import { tempDir } from './_helpers.ts';

test('topic filters match like MQTT and become safe file names', () => {
  assert.ok(topicMatches('sensors/#', 'sensors/a/b'));
  assert.ok(topicMatches('sensors/+/temp', 'sensors/l1/temp'));
  assert.not.ok(topicMatches('sensors/+/temp', 'sensors/l1/hum'));
  assert.not.ok(topicMatches('sensors/+', 'sensors/a/b'));
  assert.ok(topicMatches('a/b', 'a/b'));
  assert.is(slugOf('sensors/#'), 'sensors_all');
  assert.is(slugOf('../../etc/passwd'), 'etc_passwd');
  assert.is(slugOf('a/+/b'), 'a_+_b');
});

test('lines are JSON with the payload as text, or base64 when it is not UTF-8', () => {
  assert.equal(JSON.parse(captureLine('t/1', Buffer.from('21.5'), 7)), { ts: 7, topic: 't/1', payload: '21.5' });
  assert.equal(JSON.parse(captureLine('t/1', Buffer.from([0xff, 0xfe]), 7)), { ts: 7, topic: 't/1', payload_b64: '//4=' });
  assert.not.ok(captureLine('t', Buffer.from('a\nb'), 1).includes('\n'), 'one line per message');
});

test('rotation by size and by age (pure rule)', () => {
  const p = { rotateBytes: 100, rotateS: 60 };
  assert.not.ok(shouldRotate({ sizeBytes: 50, openedMs: 0 }, 40, 1000, p));
  assert.ok(shouldRotate({ sizeBytes: 50, openedMs: 0 }, 60, 1000, p));
  assert.not.ok(shouldRotate({ sizeBytes: 0, openedMs: 0 }, 500, 1000, p), 'an oversized line still goes into an empty file');
  assert.ok(shouldRotate({ sizeBytes: 1, openedMs: 0 }, 1, 60_000, p));
  assert.is(logFileName('x', Date.parse('2026-03-04T05:06:07.890Z'), 3), 'x-20260304T050607Z-0003.log');
});

test('a rolling log writes, rotates and never loses a line', async () => {
  const t = tempDir();
  try {
    let now = Date.parse('2026-03-04T05:06:07Z');
    const log = new RotatingLog(join(t.path, 'cap'), 'cap', { rotateBytes: 64, rotateS: 10 }, () => now);
    for (let i = 0; i < 10; i++) await log.append(`line ${i} ........`); // 16 bytes each: 4 per 64-byte file
    now += 11_000;
    await log.append('after a while');
    await log.close();
    const files = readdirSync(join(t.path, 'cap')).sort();
    assert.is(files.length, 4, '4 + 4 + 2 lines by size, then a new file by age');
    const all = files.map((f) => readFileSync(join(t.path, 'cap', f), 'utf8')).join('');
    assert.equal(all.trim().split('\n'), [...Array.from({ length: 10 }, (_, i) => `line ${i} ........`), 'after a while']);
    assert.is(log.filesRotated, 4);
    assert.equal(files.map((f) => readFileSync(join(t.path, 'cap', f), 'utf8').split('\n').length - 1), [4, 4, 2, 1]);
  } finally {
    t.cleanup();
  }
});

test.run();
