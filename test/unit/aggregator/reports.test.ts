// Box Backup 4 (space by server, volume, group, individual) and 6 (script-friendly output, Nagios).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyOrThrow, openAccountDb } from '../../../aggregator/accounts/index.ts';
import {
  boardState,
  certificateCheck,
  clusterCheck,
  clusterSpace,
  formatPerf,
  heartbeatBoard,
  heartbeatCheck,
  nodeSpace,
  parseRange,
  recordVolumes,
  spaceCheck,
  spaceReport,
  stateOf,
  statusLine,
  exitCodeOf,
  volumeSpace,
  type VolumeUsage,
} from '../../../aggregator/reports/index.ts';

const T0 = 1_700_000_000_000;

test('Nagios ranges follow the plugin guidelines', () => {
  const r = (t: string) => parseRange(t)!;
  assert.is(stateOf(0, r('0'), r('4')), 'OK');
  assert.is(stateOf(1, r('0'), r('4')), 'WARNING');
  assert.is(stateOf(5, r('0'), r('4')), 'CRITICAL');
  assert.is(stateOf(5, r('10:'), undefined), 'WARNING');
  assert.is(stateOf(11, r('~:10'), undefined), 'WARNING');
  assert.is(stateOf(-5, r('~:10'), undefined), 'OK');
  assert.is(stateOf(15, r('@10:20'), undefined), 'WARNING');
  assert.is(stateOf(25, r('@10:20'), undefined), 'OK');
  assert.is(parseRange('abc'), undefined);
  assert.is(parseRange('20:10'), undefined);
  assert.is(formatPerf([{ label: 'late', value: 0, warning: r('1'), critical: r('5') }, { label: 'n1:/data', value: 42, uom: '%' }]), "late=0;1;5 'n1:/data'=42%");
});

test('board states: ok, late, silent, deregistered, unregistered, disabled', () => {
  const base = { enabled: true, monitoring: true, registered: true, lastSeenMs: 0, intervalS: 10 };
  assert.is(boardState(base, 10_000), 'ok');
  assert.is(boardState(base, 12_501), 'late');
  assert.is(boardState(base, 20_000), 'silent');
  assert.is(boardState({ ...base, registered: false }, 1e9), 'deregistered');
  assert.is(boardState({ ...base, registered: null, lastSeenMs: null }, 1e9), 'unregistered');
  assert.is(boardState({ ...base, monitoring: false }, 1e9), 'disabled');
  assert.is(boardState({ ...base, enabled: false }, 0), 'disabled');
});

test('heartbeat board and check from the database', async () => {
  const db = await openAccountDb(':memory:', { durable: false });
  for (const name of ['a.example', 'b.example', 'c.example']) {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name, number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 60 });
  }
  await db.run('INSERT INTO hb_state(account, registered, last_heartbeat_ms, last_sync_ms, last_sync_duration_ms, heartbeats) VALUES (1, 1, ?, ?, 2500, 4)', [T0 - 30_000, T0 - 40_000]);
  await db.run('INSERT INTO hb_state(account, registered, last_heartbeat_ms, heartbeats) VALUES (2, 1, ?, 9)', [T0 - 200_000]);
  const board = await heartbeatBoard(db, T0);
  assert.equal(board.map((r) => [r.account, r.state, r.lagS]), [
    ['a.example', 'ok', 30],
    ['b.example', 'silent', 200],
    ['c.example', 'unregistered', null],
  ]);
  assert.is(board[0]!.lastSyncDurationS, 2.5);
  const result = heartbeatCheck(board, { warning: parseRange('0'), critical: parseRange('4') });
  assert.is(result.state, 'WARNING');
  assert.is(exitCodeOf(result), 1);
  assert.is(statusLine(result), 'HEARTBEAT WARNING - 3 accounts, 1 late (b.example silent) | accounts=3 late=1;0;4 silent=1 ok=1 deregistered=0 disabled=0');
  await db.close();
});

const VOLS: VolumeUsage[] = [
  { cluster: 'c1', node: 'n2', volume: '/data/a', bytesUsed: 300, bytesTotal: 1000 },
  { cluster: 'c1', node: 'n1', volume: '/data/a', bytesUsed: 100, bytesTotal: 1000 },
  { cluster: 'c1', node: 'n1', volume: '/data/b', bytesUsed: 900, bytesTotal: 1000 },
  { cluster: 'c2', node: 'm1', volume: '/srv', bytesUsed: 5, bytesTotal: null },
];

test('space by volume, node and cluster adds up', async () => {
  const vols = volumeSpace(VOLS);
  assert.equal(vols.map((v) => `${v.node}:${v.volume}=${v.usedPct}`), ['n1:/data/a=10', 'n1:/data/b=90', 'n2:/data/a=30', 'm1:/srv=null']);
  const nodes = nodeSpace(VOLS);
  assert.equal(nodes.map((n) => [n.node, n.usedBytes, n.totalBytes]), [['n1', 1000, 2000], ['n2', 300, 1000], ['m1', 5, null]]);
  const clusters = clusterSpace(VOLS, [], 'c1');
  assert.equal(clusters.map((c) => [c.cluster, c.nodes, c.volumes, c.usedBytes, c.totalBytes]), [['c1', 2, 3, 1300, 3000], ['c2', 1, 1, 5, null]]);
  const check = spaceCheck({ volumes: vols, accounts: [], groups: [] }, { warning: parseRange('80'), critical: parseRange('95') });
  assert.is(check.state, 'WARNING');
  assert.match(statusLine(check), /^SPACE WARNING - 4 volumes, fullest n1:\/data\/b 90%/);
});

test('space by node: figures read now, the last known of a node that did not answer, and a node that never did', () => {
  const vols: VolumeUsage[] = [
    { cluster: 'c1', node: 'n1', volume: '/a', bytesUsed: 10, bytesTotal: 100, asOfMs: null },
    { cluster: 'c1', node: 'n2', volume: '/a', bytesUsed: 20, bytesTotal: 100, asOfMs: 5_000 },
    { cluster: 'c1', node: 'n2', volume: '/b', bytesUsed: 30, bytesTotal: 100, asOfMs: 3_000 },
  ];
  const rows = nodeSpace(vols, { cluster: 'c1', nodes: ['n1', 'n2', 'n3'] });
  assert.equal(rows.map((r) => [r.node, r.figures, r.asOfMs, r.volumes, r.usedBytes, r.usedPct]), [
    ['n1', 'now', null, 1, 10, 10],
    ['n2', 'last-known', 3_000, 2, 50, 25],
    ['n3', 'none', null, 0, null, null],
  ]);
  assert.equal(volumeSpace(vols).map((v) => v.asOfMs), [null, 5_000, 3_000]);
  assert.equal(nodeSpace(vols).map((r) => r.node), ['n1', 'n2'], 'without the member list, only nodes with figures');
});

test('space by account and group from the database; group sums equal member sums', async () => {
  const db = await openAccountDb(':memory:', { durable: false });
  for (const name of ['a.example', 'b.example']) {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name, number: null, softBytes: 100, hardBytes: 1000, primaryCluster: 'c1' });
  }
  await applyOrThrow(db, { type: 'CreateGroup', name: 'g', admin: 'x@example.org', softBytes: null, hardBytes: 150, atMs: T0 });
  await applyOrThrow(db, { type: 'AddMember', group: 'g', account: 1, atMs: T0 });
  await applyOrThrow(db, { type: 'AddMember', group: 'g', account: 2, atMs: T0 });
  await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: 'x', bytes: 120, atMs: T0 });
  await applyOrThrow(db, { type: 'RecordObject', account: 2, objectId: 'y', bytes: 40, atMs: T0 });
  const accounts = await spaceReport(db, 'account');
  assert.is(accounts.by, 'account');
  if (accounts.by !== 'account') return;
  assert.equal(accounts.rows.map((r) => [r.account, r.usedBytes, r.state]), [['a.example', 120, 'over-soft'], ['b.example', 40, 'ok']]);
  const groups = await spaceReport(db, 'group');
  if (groups.by !== 'group') return assert.unreachable();
  assert.is(groups.rows[0]!.usedBytes, 160);
  assert.is(groups.rows[0]!.state, 'over-hard');
  await recordVolumes(db, VOLS, T0);
  const clusters = await spaceReport(db, 'cluster');
  if (clusters.by !== 'cluster') return assert.unreachable();
  assert.equal(clusters.rows.map((c) => [c.cluster, c.accounts, c.accountBytes, c.usedBytes]), [['c1', 2, 160, 1300], ['c2', 0, 0, 5]]);
  if (accounts.by === 'account' && groups.by === 'group') {
    const check = spaceCheck({ volumes: [], accounts: accounts.rows, groups: groups.rows }, { warning: undefined, critical: undefined });
    assert.is(check.state, 'CRITICAL');
    assert.match(check.text, /over hard limit: group g/);
  }
  await db.close();
});

test('cluster check: CRITICAL below the PBFT quorum, WARNING with a node missing or a view change, OK otherwise', () => {
  const replicas = ['agg1', 'agg2', 'agg3', 'agg4'];
  const base = { node: 'agg1', replicas, view: 3, viewChanging: false, accountCommands: 12, accountCommandsApplied: 11 };
  const all = clusterCheck({ ...base, peersConnected: ['agg2', 'agg3', 'agg4'] });
  assert.is(statusLine(all), 'CLUSTER OK - 4 of 4 nodes reachable from agg1, view 3, 11 account commands applied | nodes_up=4;;;0;4 quorum=3 view=3 commands_behind=1');
  const one = clusterCheck({ ...base, peersConnected: ['agg2', 'agg4', 'someone-else'] });
  assert.equal([one.state, exitCodeOf(one)], ['WARNING', 1]);
  assert.match(one.text, /3 of 4 nodes reachable from agg1 \(down or cut off: agg3\); commits go on with 3/);
  const two = clusterCheck({ ...base, peersConnected: ['agg2'] });
  assert.equal([two.state, exitCodeOf(two)], ['CRITICAL', 2]);
  assert.match(two.text, /2 of 4 nodes reachable from agg1, commits need 3; down or cut off: agg3, agg4/);
  assert.is(clusterCheck({ ...base, peersConnected: ['agg2', 'agg3', 'agg4'], viewChanging: true }).state, 'WARNING');
  const deaf = clusterCheck({ ...base, peersConnected: ['agg2', 'agg3', 'agg4'], monitorListening: false });
  assert.equal([deaf.state, exitCodeOf(deaf)], ['WARNING', 1]);
  assert.match(deaf.text, /its monitor hears no heartbeats/);
  assert.is(clusterCheck({ ...base, peersConnected: ['agg2', 'agg3', 'agg4'], monitorListening: true }).state, 'OK');
  assert.is(clusterCheck({ ...base, replicas: ['agg1'], peersConnected: [] }).state, 'OK', 'a one-node cluster');
});

test('certs check: days before the first certificate expires against the ranges; revoked ones left out', () => {
  const now = Date.parse('2026-11-25T00:00:00Z');
  const day = 86_400_000;
  const t = { warning: parseRange('30:')!, critical: parseRange('7:')! };
  const rows = [
    { name: 'ca', notAfter: new Date(now + 3000 * day), revoked: false },
    { name: 'agg1', notAfter: new Date(now + 200 * day), revoked: false },
    { name: 'gw-lost', notAfter: new Date(now + 1 * day), revoked: true },
  ];
  const ok = certificateCheck(rows, now, t);
  assert.is(statusLine(ok), 'CERTS OK - 2 certificates, the first to expire is agg1 in 200 days (2027-06-13) | days_left=200;30:;7: certificates=2 expired=0 revoked=1');
  const soon = certificateCheck([...rows, { name: 'gw-1', notAfter: new Date(now + 20 * day), revoked: false }], now, t);
  assert.equal([soon.state, exitCodeOf(soon)], ['WARNING', 1]);
  assert.match(soon.text, /first to expire is gw-1 in 20 days/);
  const expired = certificateCheck([...rows, { name: 'agg2', notAfter: new Date(now - 2 * day), revoked: false }], now, t);
  assert.equal([expired.state, exitCodeOf(expired)], ['CRITICAL', 2]);
  assert.match(expired.text, /expired: agg2 on 2026-11-23/);
  assert.is(certificateCheck([rows[2]!], now, t).state, 'UNKNOWN', 'nothing but revoked certificates');
});

test.run();
