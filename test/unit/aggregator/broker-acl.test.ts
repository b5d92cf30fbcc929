// The cluster MQTT endpoint's topic rules (aggregator/node/broker-acl.ts), one row per rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { authorizeDc, claimedTelemetryAccount, isOwnAccount, type DcAction, type DcPrincipal } from '../../../aggregator/node/broker-acl.ts';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { sealTelemetry } from '../../../shared/protocol/telemetry.ts';

const C = 'dc1';
const R = '2baksa/v1';
const gw1: DcPrincipal = { identity: 'gw1.site-a.example', role: 'agent', account: { name: 'gw1.site-a.example', number: 1 } };
const fresh: DcPrincipal = { identity: 'gw7.site-a.example', role: 'agent' }; // no account in the database yet
const node: DcPrincipal = { identity: 'agg1.dc1.internal', role: 'replica' };
const admin: DcPrincipal = { identity: 'admin.dc1.internal', role: 'admin' };
const operator: DcPrincipal = { identity: 'operator.dc1.internal', role: 'operator' };
const auditor: DcPrincipal = { identity: 'auditor.dc1.internal', role: 'auditor' };

const rows: Array<[DcPrincipal, DcAction, string, boolean]> = [
  // an agent: its own telemetry, under any site, by name or by number
  [gw1, 'publish', `${R}/site-a/telemetry/gw1.site-a.example/heartbeat`, true],
  [gw1, 'publish', `${R}/site-b/telemetry/gw1.site-a.example/event`, true],
  [gw1, 'publish', `${R}/site-a/telemetry/0x00000001/heartbeat`, true],
  [gw1, 'publish', `${R}/site-a/telemetry/1/heartbeat`, true],
  [gw1, 'publish', `${R}/site-a/telemetry/GW1.SITE-A.EXAMPLE/heartbeat`, true],
  [gw1, 'publish', `${R}/site-a/telemetry/gw2.site-a.example/heartbeat`, false],
  [gw1, 'publish', `${R}/site-a/telemetry/0x00000002/heartbeat`, false],
  [fresh, 'publish', `${R}/site-a/telemetry/gw7.site-a.example/heartbeat`, true],
  [fresh, 'publish', `${R}/site-a/telemetry/0x00000007/heartbeat`, false],
  [gw1, 'retain', `${R}/site-a/telemetry/gw1.site-a.example/heartbeat`, false],
  [gw1, 'subscribe', `${R}/site-a/telemetry/gw1.site-a.example/heartbeat`, false],
  [gw1, 'publish', `${R}/dc/${C}/register`, true],
  [gw1, 'publish', `${R}/dc/${C}/deregister`, true],
  [gw1, 'publish', `${R}/dc/other/register`, false],
  [gw1, 'publish', `${R}/dc/${C}/config/gw1.site-a.example`, false],
  [gw1, 'subscribe', `${R}/dc/${C}/config/gw1.site-a.example`, true],
  [gw1, 'subscribe', `${R}/dc/${C}/config/0x00000001`, true],
  [gw1, 'subscribe', `${R}/dc/${C}/config/gw2.site-a.example`, false],
  [gw1, 'subscribe', `${R}/dc/${C}/register`, false],
  [gw1, 'subscribe', `${R}/+/telemetry/+/heartbeat`, false],
  [gw1, 'subscribe', `${R}/site-a/alert`, false],
  [gw1, 'publish', `${R}/site-a/alert`, false],
  [gw1, 'publish', `${R}/site-a/node/gw1.site-a.example/in`, false],
  [gw1, 'subscribe', '#', false],
  [gw1, 'subscribe', '$SYS/#', false],
  [gw1, 'publish', 'plant/line1/temp', false],
  // a node's monitor
  [node, 'subscribe', `${R}/+/telemetry/+/heartbeat`, true],
  [node, 'subscribe', `${R}/+/telemetry/+/event`, true],
  [node, 'subscribe', `${R}/dc/${C}/register`, true],
  [node, 'subscribe', `${R}/dc/${C}/deregister`, true],
  [node, 'subscribe', `${R}/dc/other/register`, false],
  [node, 'publish', `${R}/dc/${C}/config/gw1.site-a.example`, true],
  [node, 'publish', `${R}/site-a/alert`, true],
  [node, 'publish', `${R}/site-a/telemetry/gw1.site-a.example/heartbeat`, false],
  [node, 'publish', `${R}/dc/${C}/register`, false],
  [node, 'retain', `${R}/site-a/alert`, false],
  [node, 'subscribe', '#', false],
  [node, 'subscribe', '$SYS/broker/clients/total', false],
  // people
  [admin, 'subscribe', `${R}/+/alert`, true],
  [admin, 'subscribe', `${R}/+/telemetry/+/heartbeat`, true],
  [admin, 'subscribe', `${R}/dc/${C}/register`, false],
  [admin, 'publish', `${R}/site-a/alert`, false],
  [operator, 'subscribe', `${R}/site-a/telemetry/gw1.site-a.example/event`, true],
  [operator, 'publish', `${R}/dc/${C}/config/gw1.site-a.example`, false],
  [auditor, 'subscribe', `${R}/site-a/alert`, true],
  [auditor, 'subscribe', `${R}/+/alert`, true],
  [auditor, 'subscribe', `${R}/+/telemetry/+/heartbeat`, false],
  [auditor, 'subscribe', `${R}/site-a/telemetry/gw1.site-a.example/heartbeat`, false],
];

test('each rule of the cluster endpoint, allowed and denied', () => {
  for (const [p, action, topic, allowed] of rows) {
    const d = authorizeDc(p, action, topic, C);
    assert.is(d.allowed, allowed, `${p.role} ${p.identity} ${action} ${topic}: ${d.allowed ? 'allowed' : d.reason}`);
    if (!d.allowed) assert.ok(d.reason.length > 0);
  }
});

test('an account is its name in any case, or its number once the database knows it', () => {
  assert.ok(isOwnAccount(gw1, 'gw1.site-a.example'));
  assert.ok(isOwnAccount(gw1, '0x1'));
  assert.not.ok(isOwnAccount(gw1, '0x2'));
  assert.not.ok(isOwnAccount(fresh, '0x7'));
});

test('the account inside a Register or Deregister is read without its signature; anything else reads as none', () => {
  const key = generateSigningKey();
  const register = sealTelemetry('Register', { account: '0x00000002', host: 'h.example', agentVersion: '1', pubkey: key.publicKey, site: 'site-a' }, 'h.example', Date.now(), key.privateKey);
  assert.is(claimedTelemetryAccount(register), '0x00000002');
  const deregister = sealTelemetry('Deregister', { account: 'gw1.site-a.example', reason: 'shutdown' }, 'h.example', Date.now(), key.privateKey);
  assert.is(claimedTelemetryAccount(deregister), 'gw1.site-a.example');
  assert.is(claimedTelemetryAccount(new Uint8Array([0xc1, 0x00])), undefined);
  assert.is(claimedTelemetryAccount(new Uint8Array(0)), undefined);
});

test.run();
