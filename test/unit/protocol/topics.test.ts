// The MQTT topic tree (DESIGN §4).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BaksaError } from '../../../shared/errors.ts';
import { filters, isValidSegment, parseTopic, topics } from '../../../shared/protocol/index.ts';

test('builds the DESIGN §4 topics', () => {
  assert.is(topics.nodeState('plant7', 'gw-1'), '2baksa/v1/plant7/node/gw-1/state');
  assert.is(topics.nodeIn('plant7', 'gw-1'), '2baksa/v1/plant7/node/gw-1/in');
  assert.is(topics.ledger('plant7'), '2baksa/v1/plant7/ledger');
  assert.is(topics.heartbeat('plant7', 'host.example.org'), '2baksa/v1/plant7/telemetry/host.example.org/heartbeat');
  assert.is(topics.event('plant7', 'a1b2'), '2baksa/v1/plant7/telemetry/a1b2/event');
  assert.is(topics.alert('plant7'), '2baksa/v1/plant7/alert');
  assert.is(topics.dc('eu-1', 'register'), '2baksa/v1/dc/eu-1/register');
  assert.is(topics.dc('eu-1', 'receipt', 'acct'), '2baksa/v1/dc/eu-1/receipt/acct');
  assert.is(filters.nodeStates('plant7'), '2baksa/v1/plant7/node/+/state');
  assert.is(filters.heartbeats(), '2baksa/v1/+/telemetry/+/heartbeat');
  assert.is(filters.dc('eu-1'), '2baksa/v1/dc/eu-1/#');
});

test('refuses segments with / + # or nothing, and the reserved site "dc"', () => {
  for (const bad of ['', 'a/b', 'a+', '#', 'x\u0000', 'x'.repeat(256)]) {
    assert.not.ok(isValidSegment(bad), JSON.stringify(bad));
    assert.throws(() => topics.nodeIn(bad, 'gw'), (e: unknown) => e instanceof BaksaError && e.code === 'TOPIC_SEGMENT_INVALID');
    assert.throws(() => topics.nodeIn('site', bad), (e: unknown) => e instanceof BaksaError && e.code === 'TOPIC_SEGMENT_INVALID');
    assert.throws(() => topics.heartbeat('site', bad));
  }
  assert.throws(() => topics.ledger('dc'), /reserved/);
});

test('parses what it builds and nothing else', () => {
  const cases = [
    [topics.nodeState('s', 'n'), { kind: 'nodeState', site: 's', nodeId: 'n' }],
    [topics.nodeIn('s', 'n'), { kind: 'nodeIn', site: 's', nodeId: 'n' }],
    [topics.ledger('s'), { kind: 'ledger', site: 's' }],
    [topics.heartbeat('s', 'acc'), { kind: 'heartbeat', site: 's', account: 'acc' }],
    [topics.event('s', 'acc'), { kind: 'event', site: 's', account: 'acc' }],
    [topics.alert('s'), { kind: 'alert', site: 's' }],
    [topics.dc('c', 'migrate', 'acc', 'x'), { kind: 'dc', cluster: 'c', channel: 'migrate', rest: ['acc', 'x'] }],
  ] as const;
  for (const [topic, parsed] of cases) assert.equal(parseTopic(topic), parsed, topic);
  for (const junk of ['', '2baksa/v2/s/ledger', '2baksa/v1/s/ledger/extra', '2baksa/v1/s/node/n/out', '2baksa/v1//ledger', '2baksa/v1/dc/c', '2baksa/v1/s/telemetry/a', 'other/topic']) {
    assert.is(parseTopic(junk), undefined, junk);
  }
});

test.run();
