// The PBFT client (PBFT §4.1): f+1 matching replies from distinct replicas, retransmission.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient, signedBytes, type Reply } from '../../../shared/consensus/index.ts';
import { FakeKeyring } from '../../sim/fake-crypto.ts';

const keys = new FakeKeyring(7);

function reply(replica: number, requestId: number, result: string, view = 0): Reply {
  const unsigned = { type: 'reply' as const, view, client: 'c', requestId, result: new TextEncoder().encode(result), replica };
  return { ...unsigned, sig: keys.replicaSigner(replica).sign(signedBytes(unsigned)) };
}

test('a result is accepted after f+1 matching replies from distinct replicas', () => {
  const client = createClient({ id: 'c', n: 4, signer: keys.clientSigner('c'), verifier: keys.verifier() });
  const [send] = client.submit(new Uint8Array([1]));
  assert.equal(send?.type === 'send' && send.to, 0);
  assert.equal(client.step(reply(1, 1, 'ok')), []);
  assert.equal(client.step(reply(1, 1, 'ok')), [], 'the same replica twice is one reply');
  assert.equal(client.step(reply(2, 1, 'lie')), [], 'a different result does not match');
  assert.equal(client.step({ ...reply(3, 1, 'ok'), sig: new Uint8Array(8) }), [], 'a bad signature is ignored');
  const done = client.step(reply(0, 1, 'ok'));
  assert.is(done[0]?.type, 'result');
  assert.is(client.inFlight, 0);
});

test('a signature made ahead is used only for the request id it was made for', () => {
  let signed = 0;
  const inner = keys.clientSigner('c');
  const signer = { sign: (data: Uint8Array) => (signed++, inner.sign(data)) };
  const client = createClient({ id: 'c', n: 4, signer, verifier: keys.verifier(), firstRequestId: 5 });
  const op = new Uint8Array([1]);
  const ahead = inner.sign(signedBytes({ type: 'request', client: 'c', requestId: 5, op }));
  const [first] = client.submit(op, { requestId: 5, sig: ahead });
  assert.ok(first?.type === 'send');
  assert.equal(first.message.sig, ahead);
  assert.is(signed, 0);
  // Queued behind the outstanding request, the operation gets id 6: the signature for 5 is not used.
  client.submit(new Uint8Array([2]), { requestId: 5, sig: ahead });
  const next = [0, 1].flatMap((replica) => client.step(reply(replica, 5, 'ok')));
  const send = next.find((a) => a.type === 'send');
  assert.ok(send?.type === 'send');
  assert.is(send.message.requestId, 6);
  assert.is(signed, 1);
  assert.ok(keys.verifier().verifyClient('c', signedBytes(send.message), send.message.sig));
});

test('requests queue behind the outstanding one and go to the primary of the latest view seen', () => {
  const client = createClient({ id: 'c', n: 4, signer: keys.clientSigner('c'), verifier: keys.verifier(), firstRequestId: 10 });
  client.submit(new Uint8Array([1]));
  assert.equal(client.submit(new Uint8Array([2])), []);
  assert.is(client.inFlight, 2);
  client.step(reply(1, 10, 'a', 5));
  const next = client.step(reply(2, 10, 'a', 5));
  assert.is(next[0]?.type, 'result');
  assert.ok(next[1]?.type === 'send' && next[1].to === 1 && next[1].message.requestId === 11, 'view 5 -> primary 1');
});

test('on timeout the request is broadcast, with a doubling timeout', () => {
  const client = createClient({ id: 'c', n: 4, signer: keys.clientSigner('c'), verifier: keys.verifier(), options: { requestTimeoutTicks: 3, requestTimeoutTicksMax: 100 } });
  client.submit(new Uint8Array([1]));
  const fired: number[] = [];
  for (let t = 1; t <= 20; t++) if (client.tick().some((a) => a.type === 'broadcast')) fired.push(t);
  assert.equal(fired, [3, 9]);
});

test.run();
