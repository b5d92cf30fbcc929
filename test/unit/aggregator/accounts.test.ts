// Box Backup requirement 1 (symbolic names, explicit numbers), 2 (groups, quotas), 8.3 (identical databases).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Database } from '../../../shared/db/index.ts';
import { BaksaError } from '../../../shared/errors.ts';
import {
  admitBackup,
  apply,
  QuotaHolds,
  requireResidency,
  type QuotaHold,
  applyOrThrow,
  checkUsage,
  dumpState,
  formatAccountNumber,
  groupStats,
  housekeepingOf,
  nextAccountNumber,
  normalizeAccountName,
  openAccountDb,
  parseAccountNumber,
  resolveAccount,
  stateDigest,
  type AccountCommand,
} from '../../../aggregator/accounts/index.ts';

const T = 1_700_000_000_000;

async function freshDb(): Promise<Database> {
  return openAccountDb(':memory:', { durable: false });
}

function create(name: string, extra: Partial<Extract<AccountCommand, { type: 'CreateAccount' }>> = {}): AccountCommand {
  return { type: 'CreateAccount', atMs: T, name, number: null, softBytes: null, hardBytes: null, ...extra };
}

test('account numbers parse as hex with or without 0x, names must not read as numbers', () => {
  assert.is(parseAccountNumber('0x1a'), 0x1a);
  assert.is(parseAccountNumber('1A'), 0x1a);
  assert.is(parseAccountNumber('0'), undefined);
  assert.is(parseAccountNumber('gw1'), undefined);
  assert.is(formatAccountNumber(0x1a), '0x0000001a');
  assert.is(normalizeAccountName('GW-07.Site-A.example.'), 'gw-07.site-a.example');
  assert.throws(() => normalizeAccountName('cafe'), /reads as an account number/);
  assert.throws(() => normalizeAccountName('bad_name.example'), /characters other than/);
  assert.throws(() => normalizeAccountName('a'.repeat(64) + '.example'), /label of 64/);
  assert.throws(() => normalizeAccountName(('abc.').repeat(64) + 'x'), /at most 255/);
});

test('create assigns numbers from a high-water mark, never reusing a deleted one; explicit numbers work', async () => {
  const db = await freshDb();
  const a = await applyOrThrow(db, create('gw1.example'));
  assert.is(a.value.number, 1);
  const b = await applyOrThrow(db, create('gw2.example', { number: 0x100 }));
  assert.is(b.value.numberHex, '0x00000100');
  assert.is(await nextAccountNumber(db), 0x101);
  await applyOrThrow(db, { type: 'DeleteAccount', account: 0x100, atMs: T });
  const c = await applyOrThrow(db, create('gw3.example'));
  assert.is(c.value.number, 0x101);
  const taken = await apply(db, create('gw4.example', { number: 1 }));
  assert.is(taken.ok, false);
  assert.is(!taken.ok && taken.error.code, 'ACCOUNT_NUMBER_TAKEN');
  const dup = await apply(db, create('GW1.example'));
  assert.is(!dup.ok && dup.error.code, 'ACCOUNT_EXISTS');
  await db.close();
});

test('every command accepts the number or the name', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('gw1.example', { number: 0x2b }));
  assert.is((await resolveAccount(db, '0x2b')).name, 'gw1.example');
  assert.is((await resolveAccount(db, '2B')).name, 'gw1.example');
  assert.is((await resolveAccount(db, 'GW1.example')).number, 0x2b);
  try {
    await resolveAccount(db, 'nobody.example');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, BaksaError);
    assert.is((e as BaksaError).code, 'ACCOUNT_NOT_FOUND');
  }
  await db.close();
});

test('refusals change nothing and name the field', async () => {
  const db = await freshDb();
  const before = await stateDigest(db);
  const bad = await apply(db, { type: 'CreateAccount', atMs: T, name: 'x.example', number: null, softBytes: -1, hardBytes: null });
  assert.is(!bad.ok && bad.error.code, 'INVALID_COMMAND');
  assert.match(!bad.ok ? bad.error.message : '', /softBytes/);
  const inverted = await apply(db, create('x.example', { softBytes: 10, hardBytes: 5 }));
  assert.is(!inverted.ok && inverted.error.code, 'LIMITS_INVALID');
  const unknown = await apply(db, { type: 'Bogus' });
  assert.is(unknown.ok, false);
  assert.is(await stateDigest(db), before);
  await db.close();
});

test('account hard limit refuses a backup with QUOTA_EXCEEDED; soft limit crossing asks for aggressive housekeeping', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('gw1.example', { softBytes: 100, hardBytes: 200 }));
  const r1 = await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: 'o1', bytes: 90, atMs: T });
  assert.equal(r1.quotaEvents, []);
  const r2 = await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: 'o2', bytes: 20, atMs: T + 1 });
  assert.is(r2.quotaEvents.length, 1);
  assert.is(r2.quotaEvents[0]!.limit, 'soft');
  const hk = await housekeepingOf(db, 1);
  assert.is(hk.length, 1);
  assert.is(hk[0]!.aggressive, true);
  assert.is(hk[0]!.doneMs, null);
  const admitted = await admitBackup(db, 'gw1.example', 50);
  assert.is(admitted.softExceeded[0]?.scope, 'account');
  try {
    await admitBackup(db, 'gw1.example', 100);
    assert.unreachable();
  } catch (e) {
    assert.is((e as BaksaError).code, 'QUOTA_EXCEEDED');
    assert.is((e as BaksaError).details?.scope, 'account');
    assert.is((e as BaksaError).details?.limitBytes, 200);
    assert.is((e as BaksaError).details?.usedBytes, 110);
    assert.match((e as BaksaError).hint ?? '', /2baksa accounts setlimit gw1\.example SOFT HARD/);
  }
  await db.close();
});

test('group statistics sum the members; a group hard limit refuses naming the group, limit and usage', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('a.example'));
  await applyOrThrow(db, create('b.example'));
  await applyOrThrow(db, create('c.example'));
  await applyOrThrow(db, { type: 'CreateGroup', name: 'site-a', admin: 'ops-a@example.org', softBytes: 500, hardBytes: 1000, atMs: T });
  await applyOrThrow(db, { type: 'CreateGroup', name: 'all', admin: 'ops@example.org', softBytes: null, hardBytes: null, atMs: T });
  for (const n of [1, 2]) await applyOrThrow(db, { type: 'AddMember', group: 'site-a', account: n, atMs: T });
  for (const n of [1, 2, 3]) await applyOrThrow(db, { type: 'AddMember', group: 'all', account: n, atMs: T });
  const again = await apply(db, { type: 'AddMember', group: 'site-a', account: 1, atMs: T });
  assert.is(!again.ok && again.error.code, 'ALREADY_MEMBER');
  await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: 'x', bytes: 300, atMs: T });
  await applyOrThrow(db, { type: 'RecordObject', account: 3, objectId: 'y', bytes: 7, atMs: T });
  const crossing = await applyOrThrow(db, { type: 'RecordObject', account: 2, objectId: 'z', bytes: 250, atMs: T });
  assert.equal(crossing.quotaEvents.map((e) => `${e.scope}:${e.name}:${e.limit}`), ['group:site-a:soft']);
  // aggressive housekeeping requested for every member of the group
  assert.is((await housekeepingOf(db, 1)).filter((h) => h.aggressive).length, 1);
  assert.is((await housekeepingOf(db, 2)).filter((h) => h.aggressive).length, 1);
  assert.is((await housekeepingOf(db, 3)).length, 0);
  const siteA = await groupStats(db, 'site-a');
  assert.is(siteA.usedBytes, 550);
  assert.equal(siteA.members.map((m) => m.name), ['a.example', 'b.example']);
  const all = await groupStats(db, 'all');
  assert.is(all.usedBytes, 557); // a member of several groups counts in each
  try {
    await admitBackup(db, 'b.example', 451);
    assert.unreachable();
  } catch (e) {
    const err = e as BaksaError;
    assert.is(err.code, 'QUOTA_EXCEEDED');
    assert.match(err.message, /group "site-a"/);
    assert.match(err.hint ?? '', /2baksa groups setlimit site-a SOFT HARD/, 'the hint names a command that exists');
    assert.is(err.exitCode, 5, 'as a full disk');
    assert.is(err.details?.group, 'site-a');
    assert.is(err.details?.limitBytes, 1000);
    assert.is(err.details?.usedBytes, 550);
  }
  await admitBackup(db, 'b.example', 450);
  await admitBackup(db, 'c.example', 10_000); // not in site-a
  await db.close();
});

test('uploads held by a node count against the hard limits until released: parallel admissions cannot pass them together', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('a.example', { hardBytes: 1000 }));
  await applyOrThrow(db, create('b.example'));
  await applyOrThrow(db, create('c.example'));
  await applyOrThrow(db, { type: 'CreateGroup', name: 'site-a', admin: 'ops-a@example.org', softBytes: null, hardBytes: 700, atMs: T });
  for (const n of [2, 3]) await applyOrThrow(db, { type: 'AddMember', group: 'site-a', account: n, atMs: T });
  await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: 'x', bytes: 100, atMs: T });
  const holds = new QuotaHolds(db);
  const outcome = (p: Promise<QuotaHold>) => p.then((h) => h, (e: BaksaError) => e.code);

  // Six uploads of 200 at once against 900 left: four fit, whichever order they are admitted in.
  const six = await Promise.all(Array.from({ length: 6 }, () => outcome(holds.admit('a.example', 200))));
  assert.is(six.filter((o) => o === 'QUOTA_EXCEEDED').length, 2);
  assert.is(await holds.unrecorded([1]), 800);
  const refused = await holds.admit('a.example', 200).then(() => undefined, (e: BaksaError) => e);
  assert.is(refused?.details?.usedBytes, 900, 'the refusal counts the recorded and the held bytes');
  // Released (recorded now, or failed): room again.
  for (const o of six) if (typeof o !== 'string') o.release();
  six.filter((o) => typeof o !== 'string').forEach((o) => (o as QuotaHold).release()); // twice is once
  assert.is(await holds.unrecorded([1]), 0);
  (await holds.admit('a.example', 900)).release();

  // A group's limit counts what is held for every member; other sources (a queue) count too.
  let queued = 300;
  holds.countAlso((accounts) => (accounts.includes(3) ? queued : 0));
  const b = await holds.admit('b.example', 300);
  assert.is(await outcome(holds.admit('c.example', 200)), 'QUOTA_EXCEEDED', '300 held + 300 queued + 200 > 700');
  queued = 0;
  const c = await holds.admit('c.example', 200);
  b.release();
  c.release();
  // The plain check, without holds, is what it was.
  await admitBackup(db, 'a.example', 900);
  await db.close();
});

test('residency: an account that lists regions is taken only by a cluster in one of them', () => {
  const code = (f: () => void) => {
    try {
      f();
      return 'taken';
    } catch (e) {
      return (e as BaksaError).code;
    }
  };
  const anywhere = { name: 'a.example', regions: [] };
  const eu = { name: 'b.example', regions: ['eu-west', 'eu-central'] };
  assert.is(code(() => requireResidency(anywhere, undefined)), 'taken');
  assert.is(code(() => requireResidency(anywhere, 'us-east')), 'taken');
  assert.is(code(() => requireResidency(eu, 'eu-central')), 'taken');
  assert.is(code(() => requireResidency(eu, 'us-east')), 'RESIDENCY_VIOLATION');
  assert.is(code(() => requireResidency(eu, 'EU-WEST')), 'RESIDENCY_VIOLATION', 'region names are compared exactly');
  try {
    requireResidency(eu, undefined, 'migration');
    assert.unreachable();
  } catch (e) {
    const err = e as BaksaError;
    assert.match(err.message, /^migration refused: account b\.example may be stored only in regions eu-west, eu-central, and this cluster names no region/);
    assert.match(err.hint ?? '', /"region" in every node's node\.json/);
    assert.equal(err.details, { account: 'b.example', regions: ['eu-west', 'eu-central'], clusterRegion: null });
  }
});

test('disabled accounts are refused', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('a.example'));
  await applyOrThrow(db, { type: 'SetAccountEnabled', account: 1, enabled: false });
  await admitBackup(db, 1, 1).then(
    () => assert.unreachable(),
    (e: BaksaError) => assert.is(e.code, 'ACCOUNT_DISABLED'),
  );
  await db.close();
});

test('housekeeping removes old and deleted objects oldest first, down to the soft limit unless aggressive', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('a.example', { softBytes: 1000, hardBytes: 5000 }));
  for (let i = 0; i < 6; i++) await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: `o${i}`, bytes: 300, atMs: T + i });
  for (const id of ['o0', 'o1', 'o2']) await applyOrThrow(db, { type: 'MarkObject', account: 1, objectId: id, state: 'old', atMs: T });
  const normal = await applyOrThrow(db, { type: 'Housekeep', account: 1, atMs: T + 10, aggressive: false, reason: 'test' });
  // 1800 used, soft 1000, only o0..o2 removable: removes o0, o1, o2 (reaching 900)
  assert.equal(normal.value.removedObjects, ['o0', 'o1', 'o2']);
  assert.is(normal.value.usedBytes, 900);
  const check = await checkUsage(db, (await resolveAccount(db, 1)));
  assert.ok(check.consistent);
  const deletions = await db.all<{ object_id: string }>('SELECT object_id FROM deletions ORDER BY seq');
  assert.equal(deletions.map((d) => d.object_id), ['o0', 'o1', 'o2']);
  await db.close();
});

test('a removed object keeps its layout in its deletion (housekeeping, a deleted account): the storage side frees it from there', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('a.example'));
  for (let i = 0; i < 3; i++) await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: `o${i}`, bytes: 10, atMs: T + i, layout: `{"where":${i}}` });
  await applyOrThrow(db, { type: 'MarkObject', account: 1, objectId: 'o0', state: 'old', atMs: T });
  await applyOrThrow(db, { type: 'Housekeep', account: 1, atMs: T + 10, aggressive: true, reason: 'test' });
  const deleted = await applyOrThrow(db, { type: 'DeleteAccount', account: 1, atMs: T + 20 });
  assert.equal(deleted.value.objectsToDelete, ['o1', 'o2']);
  const rows = await db.all<{ object_id: string; layout: string | null; deleted_ms: number }>('SELECT object_id, layout, deleted_ms FROM deletions ORDER BY object_id');
  assert.equal(rows.map((r) => [r.object_id, r.layout, r.deleted_ms]), [['o0', '{"where":0}', T + 10], ['o1', '{"where":1}', T + 20], ['o2', '{"where":2}', T + 20]]);
  await db.close();
});

test('check finds counters that disagree with the stored objects; RecomputeUsage fixes them', async () => {
  const db = await freshDb();
  await applyOrThrow(db, create('a.example'));
  await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: 'o', bytes: 42, atMs: T });
  await db.run('UPDATE accounts SET used_bytes = 7 WHERE number = 1');
  assert.is((await checkUsage(db, await resolveAccount(db, 1))).consistent, false);
  const fixed = await applyOrThrow(db, { type: 'RecomputeUsage', account: 1 });
  assert.is(fixed.value.fixed, true);
  assert.is((await resolveAccount(db, 1)).usedBytes, 42);
  await db.close();
});

// Box Backup 8.3: the accounts database must be identical on each machine.
const commandArb: fc.Arbitrary<AccountCommand> = fc.oneof(
  fc.record({
    type: fc.constant('CreateAccount' as const),
    atMs: fc.integer({ min: 0, max: 1e12 }),
    name: fc.constantFrom('a.example', 'b.example', 'c.example', 'd.example'),
    number: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }),
    softBytes: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
    hardBytes: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: null }),
  }),
  fc.record({ type: fc.constant('RecordObject' as const), account: fc.integer({ min: 1, max: 8 }), objectId: fc.constantFrom('o1', 'o2', 'o3', 'o4'), bytes: fc.integer({ min: 0, max: 700 }), atMs: fc.nat() }),
  fc.record({ type: fc.constant('MarkObject' as const), account: fc.integer({ min: 1, max: 8 }), objectId: fc.constantFrom('o1', 'o2', 'o3'), state: fc.constantFrom('old' as const, 'deleted' as const), atMs: fc.nat() }),
  fc.record({ type: fc.constant('Housekeep' as const), account: fc.integer({ min: 1, max: 8 }), atMs: fc.nat(), aggressive: fc.boolean(), reason: fc.constant('r') }),
  fc.record({ type: fc.constant('CreateGroup' as const), name: fc.constantFrom('g1', 'g2'), admin: fc.constant('x@example.org'), softBytes: fc.option(fc.integer({ min: 0, max: 800 }), { nil: null }), hardBytes: fc.constant(null), atMs: fc.nat() }),
  fc.record({ type: fc.constant('AddMember' as const), group: fc.constantFrom('g1', 'g2'), account: fc.integer({ min: 1, max: 8 }), atMs: fc.nat() }),
  fc.record({ type: fc.constant('RemoveMember' as const), group: fc.constantFrom('g1', 'g2'), account: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ type: fc.constant('DeleteAccount' as const), account: fc.integer({ min: 1, max: 8 }), atMs: fc.nat() }),
  fc.record({ type: fc.constant('RenameAccount' as const), account: fc.integer({ min: 1, max: 8 }), name: fc.constantFrom('e.example', 'a.example') }),
);

test('two databases fed the same command log end identical (dump and digest)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(commandArb, { maxLength: 40 }), async (log) => {
      const one = await freshDb();
      const two = await freshDb();
      const results1: string[] = [];
      const results2: string[] = [];
      for (const cmd of log) results1.push(JSON.stringify(await apply(one, cmd)));
      for (const cmd of log) results2.push(JSON.stringify(await apply(two, cmd)));
      assert.equal(results1, results2);
      assert.is(await dumpState(one), await dumpState(two));
      assert.is(await stateDigest(one), await stateDigest(two));
      for (const a of await one.all<{ number: number }>('SELECT number FROM accounts')) {
        assert.ok((await checkUsage(one, await resolveAccount(one, a.number))).consistent, 'usage counters match the objects');
      }
      await one.close();
      await two.close();
    }),
    { numRuns: 40 },
  );
});

test('the digest changes with the contents', async () => {
  const db = await freshDb();
  const empty = await stateDigest(db);
  await applyOrThrow(db, create('a.example'));
  assert.is.not(await stateDigest(db), empty);
  await db.close();
});

test.run();
