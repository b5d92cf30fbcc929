/**
 * The MQTT endpoint an aggregator node can run for its agents' telemetry (`mqtt.embedded` in the node
 * config): aedes behind the site broker's socket guard (agent/broker/guarded-connection.ts), so a
 * packet over the cap is cut at its header and a subscriber that stops reading is disconnected instead
 * of stalling delivery to everyone else. Plain MQTT, for a trusted data-center network: every telemetry
 * message is a signed envelope checked by the monitor against the agent's pinned key, so a client
 * here can drop or delay messages (as any network can) but never forge them. `$SYS` and other `$`
 * topics are refused.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Logger } from 'pino';
import { GuardedConnection, type GuardLimits } from '../../agent/broker/index.ts';
import { listenOn } from '../../shared/transport/listen.ts';

export interface EmbeddedBroker {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export const defaultEmbeddedBrokerLimits: GuardLimits = {
  connectBytesMax: 4 * 1024,
  packetBytesMax: 256 * 1024,
  outgoingBytesMax: 16 * 1024 * 1024,
};

export async function startEmbeddedBroker(host: string, port: number, logger: Logger, limits: GuardLimits = defaultEmbeddedBrokerLimits): Promise<EmbeddedBroker> {
  const guards = new WeakMap<object, GuardedConnection>();
  const aedes = await Aedes.createBroker({
    authenticate(client: Client, _username, _password, done) {
      guards.get(client.conn)?.authenticated();
      done(null, true);
    },
    authorizePublish(_client, packet, done) {
      done(packet.topic.startsWith('$') ? new Error('$ topics are reserved') : null);
    },
    authorizeSubscribe(_client, sub, done) {
      done(null, sub.topic.startsWith('$') ? null : sub);
    },
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    const guard = new GuardedConnection(socket, limits, (refusal) => {
      logger.warn({ remote: socket.remoteAddress, reason: refusal.reason }, 'mqtt client cut off');
      socket.destroy();
    });
    guards.set(guard, guard);
    aedes.handle(guard);
  });
  try {
    await listenOn(server, port, host);
  } catch (error) {
    // The broker's own timers would keep the process alive.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  }
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    port: bound,
    async stop() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
