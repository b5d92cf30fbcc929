// The MQTT fixed-header scanner behind the socket guard (MQTT 3.1.1 §2.2: packet type, flags, remaining
// length; DESIGN §8: the broker caps packet size before authentication). Real packets come from
// mqtt-packet (the encoder mqtt.js and aedes use).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as mqttPacket from 'mqtt-packet';
import { FixedHeaderScanner, firstByteProblem } from '../../../agent/broker/header-scanner.ts';

const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'gw-1', keepalive: 30 });

const packetArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.record({ topic: fc.string({ minLength: 1, maxLength: 40 }).filter((t) => !/[+#\u0000]/.test(t)), size: fc.integer({ min: 0, max: 70_000 }), qos: fc.constantFrom(0, 1) }).map(
    ({ topic, size, qos }) => mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(size, 7), qos: qos as 0 | 1, dup: false, retain: size % 2 === 0, messageId: qos ? 1 : undefined } as mqttPacket.IPublishPacket),
  ),
  fc.constant(mqttPacket.generate({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '2baksa/v1/s/node/+/state', qos: 1 }] })),
  fc.constant(mqttPacket.generate({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['a/b'] })),
  fc.constant(mqttPacket.generate({ cmd: 'puback', messageId: 4 })),
  fc.constant(mqttPacket.generate({ cmd: 'pubrel', messageId: 5 })),
  fc.constant(mqttPacket.generate({ cmd: 'pingreq' })),
  fc.constant(mqttPacket.generate({ cmd: 'disconnect' })),
);

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  return out;
}

test('property: any real client stream under the limit passes, however it is split', () => {
  fc.assert(
    fc.property(fc.array(packetArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (packets, cuts) => {
      const stream = Buffer.concat([connect, ...packets]);
      const scanner = new FixedHeaderScanner(80_000);
      for (const chunk of splitAt(stream, cuts)) assert.is(scanner.feed(chunk), undefined);
      assert.is(scanner.packets, packets.length + 1);
      assert.ok(scanner.atBoundary);
    }),
    { numRuns: 200 },
  );
});

test('property: the first packet over the limit is refused with its declared size, at its header', () => {
  fc.assert(
    fc.property(fc.array(packetArb, { minLength: 1, maxLength: 10 }), fc.integer({ min: 0, max: 70_000 }), fc.array(fc.nat(), { maxLength: 10 }), (packets, limit, cuts) => {
      const scanner = new FixedHeaderScanner(Math.max(limit, connect.length));
      const stream = Buffer.concat([connect, ...packets]);
      const all = [connect, ...packets];
      const lengths = all.map((p) => new FixedHeaderScannerProbe(p).remaining);
      const firstBad = lengths.findIndex((n) => n > scanner.limitBytes);
      let refusal;
      for (const chunk of splitAt(stream, cuts)) {
        refusal = scanner.feed(chunk);
        if (refusal) break;
      }
      if (firstBad < 0) assert.is(refusal, undefined);
      else {
        assert.equal(refusal, { reason: 'too-large', packetType: all[firstBad]![0]! >> 4, declaredBytes: lengths[firstBad], limitBytes: scanner.limitBytes });
        assert.is(scanner.packets, firstBad);
      }
    }),
    { numRuns: 200 },
  );
});

/** Reads the remaining length of one whole packet (test helper, independent of the scanner). */
class FixedHeaderScannerProbe {
  readonly remaining: number;
  constructor(packet: Buffer) {
    let value = 0;
    let i = 1;
    for (let shift = 1; ; shift *= 128, i++) {
      value += (packet[i]! & 0x7f) * shift;
      if (!(packet[i]! & 0x80)) break;
    }
    this.remaining = value;
  }
}

test('a CONNECT declaring 100 MB is refused after its 5 header bytes, before any body', () => {
  const scanner = new FixedHeaderScanner(64 * 1024);
  const declared = 100 * 1024 * 1024;
  const header = [0x10];
  for (let n = declared; ; ) {
    const digit = n % 128;
    n = Math.floor(n / 128);
    header.push(n > 0 ? digit | 0x80 : digit);
    if (n === 0) break;
  }
  assert.is(scanner.feed(new Uint8Array(header.slice(0, 2))), undefined);
  assert.equal(scanner.feed(new Uint8Array(header.slice(2))), { reason: 'too-large', packetType: 1, declaredBytes: declared, limitBytes: 64 * 1024 });
  // refused for good
  assert.is(scanner.feed(connect)?.reason, 'too-large');
});

test('garbage is refused at the first byte', () => {
  assert.is(new FixedHeaderScanner(1000).feed(Buffer.from('GET / HTTP/1.1\r\n\r\n'))?.reason, 'first-not-connect');
  assert.is(new FixedHeaderScanner(1000).feed(Buffer.from([0x16, 0x03, 0x01]))?.reason, 'bad-flags'); // a TLS hello on the plain port
  const s = new FixedHeaderScanner(1000);
  assert.is(s.feed(connect), undefined);
  assert.is(s.feed(Buffer.from([0x20, 0x02, 0, 0]))?.reason, 'unexpected-type'); // CONNACK from a client
});

test('a remaining length of more than four bytes is malformed', () => {
  const s = new FixedHeaderScanner(Number.MAX_SAFE_INTEGER);
  assert.equal(s.feed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])), { reason: 'bad-length', packetType: 1 });
});

test('reserved flags and types (§2.2.2)', () => {
  assert.is(firstByteProblem(0x10, true), undefined);
  assert.is(firstByteProblem(0x30, true), 'first-not-connect');
  assert.is(firstByteProblem(0x11, true), 'bad-flags');
  assert.is(firstByteProblem(0x3b, false), undefined); // PUBLISH dup qos1 retain
  assert.is(firstByteProblem(0x36, false), 'bad-flags'); // PUBLISH qos 3
  assert.is(firstByteProblem(0x82, false), undefined); // SUBSCRIBE
  assert.is(firstByteProblem(0x80, false), 'bad-flags');
  assert.is(firstByteProblem(0x62, false), undefined); // PUBREL
  assert.is(firstByteProblem(0x00, false), 'unexpected-type');
  assert.is(firstByteProblem(0xf0, false), 'unexpected-type'); // MQTT 5 AUTH
  assert.is(firstByteProblem(0xc0, false), undefined); // PINGREQ
  assert.is(firstByteProblem(0xd0, false), 'unexpected-type'); // PINGRESP
});

test('stopAfterPacket stops where the first packet ends', () => {
  const s = new FixedHeaderScanner(100);
  const stream = Buffer.concat([connect, Buffer.from([0xc0, 0x00])]);
  assert.is(s.feed(stream.subarray(0, 3), true), undefined);
  assert.is(s.consumed, 3);
  assert.is(s.feed(stream.subarray(3), true), undefined);
  assert.is(s.consumed, connect.length - 3);
  assert.ok(s.atBoundary);
  assert.is(s.feed(Buffer.from([0xc0, 0x00, 0xc0, 0x00]), true), undefined);
  assert.is(s.consumed, 2); // a zero-length packet ends at its header
});

test('the limit can be raised after authentication', () => {
  const s = new FixedHeaderScanner(100);
  assert.is(s.feed(connect), undefined);
  s.limitBytes = 10_000;
  assert.is(s.feed(mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(5000), qos: 0, dup: false, retain: false })), undefined);
});

test.run();
