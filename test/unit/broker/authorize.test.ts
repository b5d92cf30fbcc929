// Site broker topic authorization (DESIGN §8: an agent may publish and subscribe only under its own site
// and node topics; the broker reserves $SYS). One row per rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { authorize, type Action, type Principal } from '../../../agent/broker/authorize.ts';
import { authenticateClient, clientIdAllowed, type AuthenticationPolicy } from '../../../agent/broker/authenticate.ts';
import type { Role } from '../../../shared/crypto/pki.ts';

const SITE = 'plant-7';
const R = `2baksa/v1/${SITE}`;
const who = (role: Role, id = 'gw-1'): Principal => ({ id, role, site: SITE, accounts: role === 'agent' ? [id, 'acct-9'] : [] });

type Row = [role: Role, action: Action, topic: string, allowed: boolean, reason?: RegExp];
const rows: Row[] = [
  // an agent: its own node topics, peers' inboxes, the site ledger, its own telemetry
  ['agent', 'publish', `${R}/node/gw-1/state`, true],
  ['agent', 'retain', `${R}/node/gw-1/state`, true],
  ['agent', 'subscribe', `${R}/node/gw-1/state`, true],
  ['agent', 'publish', `${R}/node/gw-2/state`, false, /only its own node state/],
  ['agent', 'retain', `${R}/node/gw-2/state`, false, /retain only its own/],
  ['agent', 'subscribe', `${R}/node/gw-2/state`, true],
  ['agent', 'subscribe', `${R}/node/+/state`, true],
  ['agent', 'publish', `${R}/node/gw-2/in`, true],
  ['agent', 'retain', `${R}/node/gw-2/in`, false],
  ['agent', 'subscribe', `${R}/node/gw-1/in`, true],
  ['agent', 'subscribe', `${R}/node/gw-2/in`, false, /own inbox/],
  ['agent', 'subscribe', `${R}/node/+/in`, false, /site filters/],
  ['agent', 'publish', `${R}/ledger`, true],
  ['agent', 'subscribe', `${R}/ledger`, true],
  ['agent', 'retain', `${R}/ledger`, false],
  ['agent', 'publish', `${R}/telemetry/gw-1/heartbeat`, true],
  ['agent', 'publish', `${R}/telemetry/acct-9/event`, true],
  ['agent', 'subscribe', `${R}/telemetry/gw-1/heartbeat`, true],
  ['agent', 'publish', `${R}/telemetry/gw-2/heartbeat`, false, /not this agent's/],
  ['agent', 'subscribe', `${R}/telemetry/+/heartbeat`, false],
  ['agent', 'publish', `${R}/alert`, false],
  ['agent', 'subscribe', `${R}/alert`, false],
  // never other sites, the data-center branch, $SYS, foreign trees or broad wildcards
  ['agent', 'publish', `2baksa/v1/other-site/node/gw-1/state`, false, /this broker serves site plant-7/],
  ['agent', 'publish', `2baksa/v1/other-site/node/gw-2/in`, false, /site/],
  ['agent', 'subscribe', `2baksa/v1/other-site/node/+/state`, false],
  ['agent', 'subscribe', `2baksa/v1/other-site/ledger`, false],
  ['agent', 'publish', `2baksa/v1/dc/cloud-1/register`, false, /data-center/],
  ['agent', 'subscribe', '$SYS/#', false, /reserved/],
  ['agent', 'subscribe', '$SYS/broker/clients', false, /reserved/],
  ['agent', 'publish', '$SYS/x', false, /reserved/],
  ['agent', 'subscribe', '$share/g/2baksa/v1/plant-7/ledger', false, /reserved/],
  ['agent', 'subscribe', '#', false],
  ['agent', 'subscribe', `${R}/#`, false],
  ['agent', 'subscribe', '2baksa/v1/+/ledger', false],
  ['agent', 'publish', `${R}/node/+/in`, false, /wildcards/],
  ['agent', 'publish', 'sensors/temp', false, /not a 2baksa topic/],
  ['agent', 'publish', `${R}/node/gw-1/state/extra`, false],
  ['agent', 'publish', '', false, /empty/],
  // other roles: read-only views, never inboxes
  ['auditor', 'subscribe', `${R}/ledger`, true],
  ['auditor', 'subscribe', `${R}/node/+/state`, true],
  ['auditor', 'subscribe', `${R}/node/gw-1/in`, false],
  ['auditor', 'subscribe', `${R}/telemetry/+/heartbeat`, false],
  ['auditor', 'publish', `${R}/ledger`, false],
  ['operator', 'subscribe', `${R}/telemetry/+/heartbeat`, true],
  ['operator', 'subscribe', `${R}/telemetry/+/event`, true],
  ['operator', 'subscribe', `${R}/alert`, true],
  ['operator', 'subscribe', `${R}/node/gw-1/in`, false],
  ['operator', 'publish', `${R}/alert`, false],
  ['replica', 'publish', `${R}/alert`, true],
  ['replica', 'retain', `${R}/alert`, false],
  ['replica', 'publish', `${R}/ledger`, false],
  ['replica', 'subscribe', `${R}/telemetry/+/heartbeat`, true],
  ['admin', 'publish', `${R}/alert`, true],
  ['admin', 'subscribe', '$SYS/#', false],
  ['admin', 'subscribe', `2baksa/v1/other-site/ledger`, false],
];

for (const [role, action, topic, allowed, reason] of rows) {
  test(`${role} ${action} ${topic || '(empty)'} → ${allowed ? 'allowed' : 'denied'}`, () => {
    const decision = authorize(who(role), action, topic);
    assert.is(decision.allowed, allowed);
    if (!decision.allowed) {
      assert.type(decision.reason, 'string');
      if (reason) assert.match(decision.reason, reason);
    }
  });
}

const tlsPolicy: AuthenticationPolicy = {
  site: SITE, mode: 'tls', allowAnonymous: false,
  nodeOf: (identity) => (identity.startsWith('gw-') ? identity : undefined),
  accountsOf: (nodeId) => [nodeId],
};
const plainPolicy: AuthenticationPolicy = { ...tlsPolicy, mode: 'plain', plainSecret: 'a-long-shared-secret', nodeOf: (i) => i };

test('TLS: the certificate decides; no role, a non-member agent, or a foreign client id is refused', () => {
  const ok = authenticateClient(tlsPolicy, { peer: { identity: 'gw-1', role: 'agent' }, clientId: 'gw-1' });
  assert.equal(ok, { ok: true, principal: { id: 'gw-1', role: 'agent', site: SITE, accounts: ['gw-1'] } });
  assert.equal(authenticateClient(tlsPolicy, { peer: { identity: 'gw-1', role: undefined }, clientId: 'gw-1' }), { ok: false, code: 5, reason: 'certificate gw-1 carries no role' });
  assert.is(authenticateClient(tlsPolicy, { peer: { identity: 'laptop', role: 'agent' }, clientId: '' }).ok, false);
  assert.is(authenticateClient(tlsPolicy, { clientId: 'gw-1' }).ok, false);
  const takeover = authenticateClient(tlsPolicy, { peer: { identity: 'gw-1', role: 'agent' }, clientId: 'gw-2' });
  assert.ok(!takeover.ok && takeover.code === 2);
  // a username cannot override the certificate
  const user = authenticateClient(tlsPolicy, { peer: { identity: 'gw-1', role: 'agent' }, clientId: 'gw-1:x', username: 'gw-2' });
  assert.ok(user.ok && user.principal.id === 'gw-1');
  const auditor = authenticateClient(tlsPolicy, { peer: { identity: 'alice', role: 'auditor' }, clientId: 'alice:cli' });
  assert.ok(auditor.ok && auditor.principal.role === 'auditor');
});

test('plain: username = node id and the shared secret; anonymous only when allowed', () => {
  const pw = (s: string) => new Uint8Array(Buffer.from(s));
  assert.ok(authenticateClient(plainPolicy, { clientId: 'gw-3', username: 'gw-3', password: pw('a-long-shared-secret') }).ok);
  const wrong = authenticateClient(plainPolicy, { clientId: 'gw-3', username: 'gw-3', password: pw('guess') });
  assert.ok(!wrong.ok && wrong.code === 4);
  const none = authenticateClient(plainPolicy, { clientId: 'gw-3' });
  assert.ok(!none.ok && none.code === 4);
  const anon = { ...plainPolicy, allowAnonymous: true };
  const byClientId = authenticateClient(anon, { clientId: 'gw-4:membership' });
  assert.ok(byClientId.ok && byClientId.principal.id === 'gw-4' && byClientId.principal.role === 'agent');
  assert.is(authenticateClient(anon, { clientId: '' }).ok, false);
});

test('client ids: empty, the id, or id:suffix', () => {
  assert.ok(clientIdAllowed('gw-1', ''));
  assert.ok(clientIdAllowed('gw-1', 'gw-1'));
  assert.ok(clientIdAllowed('gw-1', 'gw-1:transport'));
  assert.not.ok(clientIdAllowed('gw-1', 'gw-10'));
  assert.not.ok(clientIdAllowed('gw', 'gw-1'));
});

test.run();
