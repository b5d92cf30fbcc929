// shared/http/failover.ts as the operator CLI uses it: a read goes on to the next node whenever its node
// does not answer; a change only when it never reached its node, so no change is sent twice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BaksaError } from '../../../shared/errors.ts';
import { FailoverTransport, neverReached, type NodeTransport } from '../../../shared/http/failover.ts';

const unreachable = (code: string) => new BaksaError('API_UNREACHABLE', `connect ${code}`, { cause: Object.assign(new Error(code), { code }) });

function cluster(failures: Record<string, string>) {
  const sent: string[] = [];
  const node = (url: string): NodeTransport => ({
    async request<T>(method: string, path: string): Promise<{ status: number; body: T }> {
      sent.push(`${url} ${method} ${path}`);
      const code = failures[url];
      if (code) throw unreachable(code);
      return { status: 200, body: url as T };
    },
    close: () => undefined,
  });
  const t = new FailoverTransport(['a', 'b'], node, { mayResend: (method, e) => method === 'GET' || neverReached(e) });
  return { t, sent };
}

test('a change is sent to the next node only when it never reached the first', async () => {
  const refused = cluster({ a: 'ECONNREFUSED' });
  assert.is((await refused.t.request('POST', '/v1/accounts')).body, 'b');
  assert.equal(refused.sent, ['a POST /v1/accounts', 'b POST /v1/accounts']);

  const reset = cluster({ a: 'ECONNRESET' });
  try {
    await reset.t.request('POST', '/v1/accounts');
    assert.unreachable('a change cut off mid-way was sent again');
  } catch (e) {
    assert.is((e as BaksaError).code, 'API_UNREACHABLE');
  }
  assert.equal(reset.sent, ['a POST /v1/accounts'], 'the node may have acted on it: not sent twice');

  const read = cluster({ a: 'ECONNRESET' });
  assert.is((await read.t.request('GET', '/v1/node')).body, 'b', 'a read goes on whatever cut it off');
});

test('when every node refused the certificate, the error says so rather than that the nodes are down', async () => {
  const refused = (url: string): NodeTransport => ({
    async request<T>(): Promise<{ status: number; body: T }> {
      throw new BaksaError('API_UNREACHABLE', `${url}: closed right after the TLS handshake`, { hint: 'your certificate is revoked', details: { certificateRefused: true } });
    },
    close: () => undefined,
  });
  const t = new FailoverTransport(['a', 'b'], refused);
  const e = await t.request('GET', '/v1/node').then(() => undefined, (err: BaksaError) => err);
  assert.is(e?.code, 'API_UNREACHABLE');
  assert.is(e?.hint, 'your certificate is revoked');
  assert.equal(e?.details, { tried: ['a', 'b'], certificateRefused: true });
  const down = await cluster({ a: 'ECONNREFUSED', b: 'ECONNREFUSED' }).t.request('GET', '/v1/node').then(() => undefined, (err: BaksaError) => err);
  assert.match(down?.hint ?? '', /that the nodes run/);
});

test('neverReached tells a connection that was not made from one cut off', () => {
  assert.ok(neverReached(unreachable('ECONNREFUSED')));
  assert.ok(neverReached(unreachable('ENOTFOUND')));
  assert.not.ok(neverReached(unreachable('ECONNRESET')));
  assert.not.ok(neverReached(new BaksaError('API_UNREACHABLE', 'no answer within 30000 ms')));
});

test.run();
