// Sources: globs, excludes and the scan (stable order, symlinks not followed, FIFOs kept, sockets passed over),
// names that are not UTF-8 kept by their bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Excluder, globBase, globToRegExp } from '../../../agent/sources/glob.ts';
import { mountNotEntered, scanSources } from '../../../agent/sources/scan.ts';
import { bytesOfName, keptOfText, nameOfBytes, shownPath } from '../../../agent/sources/names.ts';
import fc from 'fast-check';
import { tempDir } from './_helpers.ts';

test('glob syntax: *, **, ?, classes and braces', () => {
  assert.ok(globToRegExp('/a/*.csv').test('/a/x.csv'));
  assert.not.ok(globToRegExp('/a/*.csv').test('/a/b/x.csv'));
  assert.ok(globToRegExp('/a/**/x.csv').test('/a/x.csv'));
  assert.ok(globToRegExp('/a/**/x.csv').test('/a/b/c/x.csv'));
  assert.ok(globToRegExp('/a/**').test('/a/b/c'));
  assert.ok(globToRegExp('/a/file?.log').test('/a/file1.log'));
  assert.ok(globToRegExp('/a/[ab]*.log').test('/a/b1.log'));
  assert.not.ok(globToRegExp('/a/[!ab]*.log').test('/a/b1.log'));
  assert.ok(globToRegExp('/a/*.{csv,jsonl}').test('/a/e.jsonl'));
  assert.not.ok(globToRegExp('/a/*.{csv,jsonl}').test('/a/e.json'));
  assert.ok(globToRegExp('/a/x+y(1).txt').test('/a/x+y(1).txt'));
  assert.is(globBase('/var/log/*/x.log'), '/var/log');
  assert.is(globBase('/*.log'), '/');
});

test('excludes: names at any depth, paths anchored', () => {
  const ex = new Excluder(['*.tmp', '/data/cache', '/data/**/skip-*']);
  assert.ok(ex.excludes('/data/a/b.tmp'));
  assert.ok(ex.excludes('/data/cache'));
  assert.not.ok(ex.excludes('/data/cache2'));
  assert.ok(ex.excludes('/data/x/y/skip-me'));
  assert.not.ok(ex.excludes('/data/a/b.txt'));
});

test('scan walks depth first in byte order, applies excludes and globs; FIFOs are entries, sockets passed over', async () => {
  const t = tempDir();
  try {
    const root = join(t.path, 'src');
    mkdirSync(join(root, 'b', 'deep'), { recursive: true });
    mkdirSync(join(root, 'a'));
    writeFileSync(join(root, 'a', '2.csv'), 'x');
    writeFileSync(join(root, 'a', '1.csv'), 'x');
    writeFileSync(join(root, 'b', 'deep', 'x.log'), 'x');
    writeFileSync(join(root, 'b', 'junk.tmp'), 'x');
    symlinkSync('/nonexistent/target', join(root, 'dangling'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
    const items = [];
    try {
      for await (const i of scanSources([root], { excludes: ['*.tmp'] })) items.push(i);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const rel = items.map((i) => `${i.kind}:${i.path.slice(root.length) || '/'}`);
    assert.equal(rel, ['dir:/', 'dir:/a', 'file:/a/1.csv', 'file:/a/2.csv', 'dir:/b', 'dir:/b/deep', 'file:/b/deep/x.log', 'symlink:/dangling', 'fifo:/pipe']);
    const globbed = [];
    for await (const i of scanSources([`${root}/**/*.csv`])) globbed.push(i.path.slice(root.length));
    assert.equal(globbed, ['/a/1.csv', '/a/2.csv']);
  } finally {
    t.cleanup();
  }
});

test('a name that is not UTF-8 is scanned with its bytes kept (escaped), and its entries are read by them', async () => {
  const t = tempDir();
  try {
    const root = join(t.path, 'src');
    mkdirSync(root);
    writeFileSync(join(root, 'ok.csv'), 'x');
    writeFileSync(join(root, 'zähler.csv'), 'x'); // UTF-8 beyond ASCII is itself
    const dir = Buffer.from(root);
    const latin1 = Buffer.concat([dir, Buffer.from('/caf\xe9', 'latin1')]);
    mkdirSync(latin1);
    writeFileSync(Buffer.concat([latin1, Buffer.from('/r\xfcckw\xe4rts.csv', 'latin1')]), 'latin-1 names');
    writeFileSync(Buffer.concat([dir, Buffer.from('/junk\xff.tmp', 'latin1')]), 'excluded anyway');
    const items = [];
    for await (const i of scanSources([root], { excludes: ['*.tmp'] })) items.push(i);
    assert.equal(items.filter((i) => i.kind === 'problem'), []);
    const files = items.filter((i) => i.kind === 'file');
    assert.is(files.length, 3);
    const odd = files.find((i) => !i.path.endsWith('.csv') || i.path.includes('caf'))!;
    // The kept path stands for exactly the bytes on disk, and is well-formed text (sqlite, JSON).
    assert.equal(bytesOfName(odd.path), Buffer.concat([latin1, Buffer.from('/r\xfcckw\xe4rts.csv', 'latin1')]));
    assert.is(Buffer.from(odd.path, 'utf8').toString('utf8'), odd.path);
    assert.ok(odd.kind === 'file' && odd.stat.size === 13n, 'its lstat was taken by its bytes');
  } finally {
    t.cleanup();
  }
});

test('kept names map back to their bytes for any bytes, and UTF-8 names are themselves (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
      const kept = nameOfBytes(bytes);
      assert.equal(bytesOfName(kept), Buffer.from(bytes));
      assert.is(Buffer.from(kept, 'utf8').toString('utf8'), kept, 'no lone surrogates');
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (text) => {
      if (/[\uF780-\uF7FF]/.test(text)) return;
      assert.is(nameOfBytes(Buffer.from(text, 'utf8')), text);
    }),
  );
  // A name that holds the escape range itself keeps its bytes escaped, so it maps back exactly.
  const pua = Buffer.from('a\uF780b', 'utf8');
  assert.is.not(nameOfBytes(pua), 'a\uF780b');
  assert.equal(bytesOfName(nameOfBytes(pua)), pua);
  assert.is(keptOfText('a\uF780b'), nameOfBytes(pua));
  assert.is(keptOfText('plain'), 'plain');
  // For people: the escaped bytes as ls -b shows them.
  assert.is(shownPath(nameOfBytes(Buffer.from('/d/caf\xe9.csv', 'latin1'))), '/d/caf\\xe9.csv');
  assert.is(shownPath('/d/zähler.csv'), '/d/zähler.csv');
});

test('a source that is a symlink is followed (its entries keep the source path); links below it and dangling ones are not', async () => {
  const t = tempDir();
  try {
    const real = join(t.path, 'data');
    mkdirSync(join(real, 'logs'), { recursive: true });
    writeFileSync(join(real, 'logs', 'a.csv'), 'x');
    symlinkSync(join(t.path, 'elsewhere'), join(real, 'inner-link'));
    const source = join(t.path, 'sensors');
    symlinkSync(real, source);
    symlinkSync(join(t.path, 'nothing-there'), join(t.path, 'dangling'));
    const items = [];
    for await (const i of scanSources([source, join(t.path, 'dangling')])) items.push(`${i.kind}:${i.path.slice(t.path.length)}`);
    assert.equal(items, ['dir:/sensors', 'symlink:/sensors/inner-link', 'dir:/sensors/logs', 'file:/sensors/logs/a.csv', 'symlink:/dangling']);
  } finally {
    t.cleanup();
  }
});

test('a directory of more entries than one lstat window comes out whole, in byte order, excludes and FIFOs in place', async () => {
  const t = tempDir();
  try {
    const root = join(t.path, 'many');
    mkdirSync(join(root, 'sub'), { recursive: true });
    const names: string[] = [];
    for (let i = 0; i < 150; i++) {
      const name = `f${String(i).padStart(3, '0')}${i % 7 === 0 ? '.tmp' : '.log'}`;
      writeFileSync(join(root, name), `${i}\n`);
      names.push(name);
    }
    writeFileSync(join(root, 'sub', 'inner.log'), 'x');
    execFileSync('mkfifo', [join(root, 'f075.pipe')]);
    const seen: string[] = [];
    for await (const item of scanSources([root], { excludes: ['*.tmp'] })) seen.push(`${item.kind} ${item.path.slice(root.length) || '/'}`);
    const expected = ['dir /', ...[...names.filter((n) => !n.endsWith('.tmp')), 'f075.pipe', 'sub'].sort().flatMap((n) =>
      n === 'sub' ? ['dir /sub', 'file /sub/inner.log'] : n.endsWith('.pipe') ? [`fifo /${n}`] : [`file /${n}`],
    )];
    assert.equal(seen, expected);
  } finally {
    t.cleanup();
  }
});

test('mount points: a pseudo file system is kept as an empty directory, another entered unless oneFileSystem', async () => {
  const t = tempDir();
  const mounted: string[] = [];
  try {
    const root = join(t.path, 'src');
    mkdirSync(join(root, 'proc'), { recursive: true });
    mkdirSync(join(root, 'disk'));
    writeFileSync(join(root, 'data.csv'), 'x');
    try {
      execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')], { stdio: 'pipe' });
      mounted.push(join(root, 'proc'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(root, 'disk')], { stdio: 'pipe' });
      mounted.push(join(root, 'disk'));
    } catch (error) {
      console.log(`  (mounts not allowed here, ${(error as Error).message.split('\n')[0]}: the mount point test is left out)`);
      return;
    }
    writeFileSync(join(root, 'disk', 'kept.log'), 'on another file system');
    const scan = async (oneFileSystem: boolean) => {
      const seen: string[] = [];
      for await (const item of scanSources([root], { oneFileSystem })) seen.push(`${item.kind} ${item.path.slice(root.length) || '/'}`);
      return seen;
    };
    assert.equal(await scan(false), ['dir /', 'file /data.csv', 'dir /disk', 'file /disk/kept.log', 'dir /proc']);
    assert.equal(await scan(true), ['dir /', 'file /data.csv', 'dir /disk', 'dir /proc']);
    assert.ok(await mountNotEntered(join(root, 'proc'), {}));
    assert.not.ok(await mountNotEntered(join(root, 'disk'), {}));
    assert.ok(await mountNotEntered(join(root, 'disk'), { oneFileSystem: true }));
    assert.not.ok(await mountNotEntered(join(root, 'data.csv'), { oneFileSystem: true }));
  } finally {
    for (const m of mounted.reverse()) execFileSync('umount', [m]);
    t.cleanup();
  }
});

test.run();
