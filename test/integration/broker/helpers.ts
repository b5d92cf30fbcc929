/**
 * Small helpers for the broker tests (site broker, the aggregator's endpoint): waiting on a condition (a
 * wait, never a timing assertion), raw sockets, MQTT remaining-length encoding for hand-made packets,
 * and what a broker answers a connection or a publish.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import mqtt from 'mqtt';

export async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return out;
}

export type RawSocket = Socket & { gone: Promise<void> };

export async function rawSocket(port: number): Promise<RawSocket> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  return Object.assign(socket, { gone });
}

/**
 * Writes `header` then zeros up to `totalBytes`, yielding to the event loop between chunks, until the
 * peer closes the connection. Returns the bytes written and whether the peer closed it.
 */
export async function floodUntilClosed(socket: RawSocket, header: Uint8Array, totalBytes: number): Promise<{ written: number; closed: boolean }> {
  let closed = false;
  void socket.gone.then(() => (closed = true));
  socket.write(header);
  let written = header.length;
  const chunk = Buffer.alloc(64 * 1024);
  while (!closed && written < totalBytes) {
    const ok = socket.write(chunk);
    written += chunk.length;
    if (!ok) await Promise.race([once(socket, 'drain').catch(() => undefined), socket.gone]);
    else await new Promise((r) => setImmediate(r));
  }
  await Promise.race([socket.gone, new Promise((r) => setTimeout(r, 5000))]);
  return { written, closed };
}

/** The QoS the broker granted for `topic`, or the SUBACK failure code (0x80) when it refused. */
export async function grantOf(client: { subscribeAsync(topic: string, opts?: { qos: 0 | 1 }): Promise<{ qos: number }[]> }, topic: string): Promise<number> {
  try {
    const [grant] = await client.subscribeAsync(topic, { qos: 1 });
    return grant!.qos;
  } catch (error) {
    // mqtt.js rejects a refused subscription with the SUBACK packet attached
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted || granted.length !== 1) throw error;
    return granted[0]!;
  }
}

/** 'connected', or the CONNACK code / error code / 'closed' when the broker would not have the client. */
export function attempt(url: string, opts: mqtt.IClientOptions): Promise<string | number> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, opts);
    const done = (r: string | number) => {
      c.end(true);
      resolve(r);
    };
    c.once('connect', () => done('connected'));
    c.once('error', (e) => done((e as { code?: number | string }).code ?? e.message));
    c.once('close', () => done('closed'));
  });
}

/** Publishes at QoS 1 and says whether the broker closed the connection for it (a refused publish) within `waitMs`. */
export async function publishCutOff(client: mqtt.MqttClient, topic: string, payload: Uint8Array, waitMs = 5_000): Promise<boolean> {
  client.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<boolean>((r) => client.once('close', () => r(true)));
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), waitMs)));
  client.publish(topic, Buffer.from(payload), { qos: 1 });
  const cut = await Promise.race([closed, late]);
  clearTimeout(timer);
  return cut;
}

/**
 * Publishes `count` messages of 64 KiB on `topic`, each starting with its number (UInt32BE), never more
 * than `ahead` of them past what the healthy reader has `received`: a busy machine that reads slowly
 * never makes that reader look like a slow consumer, while a reader that stopped falls behind by all.
 */
export async function publishPaced(pub: mqtt.MqttClient, topic: string, count: number, ahead: number, received: () => number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(64 * 1024);
    payload.writeUInt32BE(i, 0);
    await pub.publishAsync(topic, payload);
    if (i >= ahead) await until(() => received() > i - ahead, `the healthy subscriber at message ${i - ahead}`);
  }
}
