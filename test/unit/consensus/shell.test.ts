// performActions: the ordering rule of persistence.ts (a persist is durable before later sends).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createReplica, decodeMessage, performActions, signedBytes, type Request } from '../../../shared/consensus/index.ts';
import { SimApp } from '../../sim/app.ts';
import { FakeKeyring } from '../../sim/fake-crypto.ts';

test('sends wait for the persist before them; broadcasts reach every other replica as bytes', async () => {
  const keys = new FakeKeyring(1);
  const primary = createReplica({ n: 4, id: 0, signer: keys.replicaSigner(0), verifier: keys.verifier(), app: new SimApp(), options: { batchRequestsMax: 1 } });
  const unsigned = { type: 'request' as const, client: 'c', requestId: 1, op: new Uint8Array([7]) };
  const request: Request = { ...unsigned, sig: keys.clientSigner('c').sign(signedBytes(unsigned)) };
  const actions = primary.step(request);
  const log: string[] = [];
  let durable = false;
  await performActions(actions, {
    self: 0,
    n: 4,
    persist: async () => {
      await new Promise((r) => setImmediate(r));
      durable = true;
      log.push('persist');
    },
    send: (to, bytes) => {
      assert.ok(durable, 'sent before the persist was durable');
      const m = decodeMessage(bytes);
      log.push(`send ${to} ${m.ok ? m.value.type : 'garbage'}`);
    },
    reply: () => log.push('reply'),
  });
  assert.equal(log, ['persist', 'send 1 pre-prepare', 'send 2 pre-prepare', 'send 3 pre-prepare']);
});

test.run();
