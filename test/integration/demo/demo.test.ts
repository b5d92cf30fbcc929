// `npm start` runs `2baksa demo`: the whole demo must succeed end to end (a small data set here).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';

test('the demo forms a 3-gateway edge cluster, backs up, heals a corrupt peer shard, restores byte-identical with a gateway down, migrates to the aggregator cluster (chunks proven by the site ledger; the dead gateway by its leader) and restores from there with a node down', () => {
  const r = spawnSync(process.execPath, ['cli/2baksa.mjs', 'demo', '--mb', '4'], { encoding: 'utf8', timeout: 240_000 });
  assert.is(r.status, 0, r.stderr + r.stdout.slice(-2000));
  // The edge side: 3 gateways, shards on each other, a quorum-signed site ledger that verifies.
  assert.match(r.stdout, /edgeBackup\s+[\d.]+ MB\/s for 3 gateways at once/);
  assert.match(r.stdout, /check --read-data on gateway 1 finds it/);
  assert.match(r.stdout, /restore\s+.*with gateway 3 down/);
  assert.match(r.stdout, /edgeLedger\s+gw-1\.demo\.local: \d+ blocks, gw-2\.demo\.local: \d+ blocks/);
  assert.match(r.stdout, /ledger verify [^\n]*edge\/ledger\nok\s+true/);
  assert.match(r.stdout, /repaired\s+1/);
  assert.match(r.stdout, /compare: \d+ entries, no differences/);
  assert.match(r.stdout, /restoredIdentical\s+\d+ files/);
  // The data-center side: 4 aggregator nodes, objects back byte-identical with one node stopped.
  assert.match(r.stdout, /migration\s+[\d.]+ [KM]iB of input/);
  // Ledger-verified: every chunk sent was proven by a quorum-certified block of the registered site.
  assert.match(r.stdout, /sites register demo/);
  assert.match(r.stdout, /proven\s+[1-9]\d* chunks by quorum-certified blocks of site demo/);
  // The dead gateway's snapshots, migrated by its leader from the peers' shards, restore with its own keys.
  assert.match(r.stdout, /deadGateway\s+gw-3\.demo\.local: migrated by gw-[12]\.demo\.local in [\d.]+ s, \d+ files restored byte-identical from the cloud/);
  assert.match(r.stdout, /chunks\s+(\d+) offered, \1 rebuilt from peers' shards and sent, \1 proven by the site ledger/);
  assert.match(r.stdout, /clusterRestore\s+.*with one node down, \d+ files byte-identical/);
  assert.match(r.stdout, /clusterConsensus\s+view \d+, \d+ account commands applied on 3 live nodes, one digest/);
});

test.run();
