// The edge cluster through an external broker (Debian's mosquitto, started by the test): three gateways
// back up at once and restore byte-identical, and junk on every topic of the site is dropped without
// harm (test/integration/edge/harness.ts has the setup).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { appendLogs } from '../../../cli/demo-data.ts';
import { NAMES, backup, ok, restoresIdentical, setUp, snapshotOf, startDaemon, tearDown, waitJoined, type Ctx } from './harness.ts';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';

const external = suite<Ctx>('edge cluster on mosquitto');
external.before(async (ctx) => {
  Object.assign(ctx, await setUp(true));
});
external.after(async (ctx) => tearDown(ctx));

external('three gateways on mosquitto back up at once and restore byte-identical', async (ctx) => {
  for (const g of ctx.gateways) startDaemon(ctx, g);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  const runs = await Promise.all(ctx.gateways.map(backup));
  runs.forEach((r, i) => ok(r, `backup on ${NAMES[i]}`));
  for (const [i, g] of ctx.gateways.entries()) await restoresIdentical(g, snapshotOf(runs[i]!), join(ctx.root, `m-${i}`));
});

external('garbage and oversized payloads on every topic of the site are dropped without harm', async (ctx) => {
  const intruder = await mqtt.connectAsync(ctx.brokerUrl, { clientId: 'intruder', reconnectPeriod: 0 });
  const topics = ['ledger', ...NAMES.flatMap((n) => [`node/${n}/in`, `node/${n}/state`]), `telemetry/${NAMES[0]}/heartbeat`].map((t) => `2baksa/v1/plant/${t}`);
  const junk = [Buffer.alloc(0), Buffer.from([0xc1]), Buffer.from([0x82, 0xa1, 0x70, 0xc4, 0x01]), randomBytes(64), randomBytes(5 * 1024 * 1024)];
  for (const topic of topics) for (const payload of junk) await intruder.publishAsync(topic, payload, { qos: 1 });
  await intruder.endAsync();
  for (const g of ctx.gateways) assert.is(g.daemon!.child.exitCode, null, `${g.name} is still running`);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  await appendLogs(ctx.gateways[0]!.source, 256 * 1024, 11);
  const r = ok(await backup(ctx.gateways[0]!), 'a backup after the junk');
  await restoresIdentical(ctx.gateways[0]!, snapshotOf(r), join(ctx.root, 'junk'));
});

external.run();
