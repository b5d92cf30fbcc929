/**
 * An agent-like heartbeat publisher for the operator tests (the real agent publishes the same messages):
 * it registers, waits for its MonitorConfig, sends a Heartbeat every interval, and on SIGTERM (an orderly
 * shutdown) sends Deregister and exits 0. kill -9 leaves the aggregator waiting for heartbeats that never
 * come. Run: node --import tsx fake-agent.ts '<json options>'; it prints "ready <intervalS>" once
 * configured.
 */
import mqtt from 'mqtt';
import { signingKeyFromSeed } from '../../../shared/crypto/sign.ts';
import { decodeUntrusted, topics } from '../../../shared/protocol/index.ts';
import { sealTelemetry, type HeartbeatBody } from '../../../aggregator/monitoring/messages.ts';

export interface FakeAgentOptions {
  brokerUrl: string;
  cluster: string;
  site: string;
  account: string;
  nodeId: string;
  /** 32-byte Ed25519 seed, hex. */
  seedHex: string;
  bytesPerHeartbeat?: number;
}

export function heartbeatBody(account: string, nodeId: string, startedMs: number, bytes: number): HeartbeatBody {
  return {
    account,
    host: nodeId,
    agentVersion: '0.1.0-test',
    backupType: 'lazy',
    uptimeS: Math.floor((Date.now() - startedMs) / 1000),
    lastConnectionMs: Date.now(),
    lastSyncMs: Date.now(),
    lastSyncDurationMs: 120,
    bytesSynced: bytes,
    bytesRestored: 0,
    errors: [],
    metrics: { cpuLoadPct: 3, memUsedBytes: 100 << 20, memTotalBytes: 1 << 30 },
  };
}

/** The heartbeat interval in a MonitorConfig envelope (read, not verified: this helper trusts its broker). */
function intervalOf(payload: Uint8Array): number | undefined {
  try {
    const outer = decodeUntrusted(payload) as { p?: Uint8Array };
    const m = decodeUntrusted(outer.p!) as { type?: string; body?: { heartbeatIntervalS?: number } };
    return m.type === 'MonitorConfig' ? m.body?.heartbeatIntervalS : undefined;
  } catch {
    return undefined;
  }
}

export async function runFakeAgent(options: FakeAgentOptions): Promise<void> {
  const key = signingKeyFromSeed(Buffer.from(options.seedHex, 'hex'));
  const started = Date.now();
  const client = await mqtt.connectAsync(options.brokerUrl, { clientId: `fake-agent-${options.nodeId}`, reconnectPeriod: 500 });
  const configTopic = topics.dc(options.cluster, 'config', options.account);
  await client.subscribeAsync(configTopic, { qos: 1 });
  let timer: NodeJS.Timeout | undefined;
  let intervalS: number | undefined;
  const beat = () => {
    const body = heartbeatBody(options.account, options.nodeId, started, options.bytesPerHeartbeat ?? 1000);
    const payload = sealTelemetry('Heartbeat', body, options.nodeId, Date.now(), key.privateKey);
    client.publish(topics.heartbeat(options.site, options.account), Buffer.from(payload), { qos: 1 });
  };
  client.on('message', (topic, payload) => {
    if (topic !== configTopic || intervalS !== undefined) return;
    const got = intervalOf(payload);
    if (got === undefined) return;
    intervalS = got;
    beat();
    timer = setInterval(beat, intervalS * 1000);
    process.stdout.write(`ready ${intervalS}\n`);
  });
  const register = () => {
    const body = { account: options.account, host: options.nodeId, agentVersion: '0.1.0-test', pubkey: key.publicKey, site: options.site };
    client.publish(topics.dc(options.cluster, 'register'), Buffer.from(sealTelemetry('Register', body, options.nodeId, Date.now(), key.privateKey)), { qos: 1 });
  };
  register();
  const retry = setInterval(() => (intervalS === undefined ? register() : clearInterval(retry)), 1000);
  process.on('SIGTERM', () => {
    if (timer) clearInterval(timer);
    clearInterval(retry);
    const payload = sealTelemetry('Deregister', { account: options.account, reason: 'shutdown' }, options.nodeId, Date.now(), key.privateKey);
    client.publish(topics.dc(options.cluster, 'deregister'), Buffer.from(payload), { qos: 1 }, () => {
      void client.endAsync().then(() => process.exit(0));
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runFakeAgent(JSON.parse(process.argv[2] ?? '{}') as FakeAgentOptions);
}
