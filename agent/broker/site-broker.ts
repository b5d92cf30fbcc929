/**
 * The embedded site broker: aedes behind our own listener, so every connection passes three gates.
 *
 *   socket ──TLS 1.3, our CA──▶ GuardedConnection (size caps, slow consumers) ──▶ aedes
 *                                                    authenticate (certificate or password) ─┘
 *                                                    authorizePublish / authorizeSubscribe ──┘
 *
 * The gateway that embeds the broker joins it through `connectLocal` (local-pair.ts): an in-memory
 * stream into the same guard and hooks, known as that node without a certificate or password, so its
 * own traffic (a third of what the broker carries in a 3-gateway site) is neither encrypted nor copied
 * through the kernel on its way out of and back into the same process.
 *
 * aedes hooks only translate: `authenticateClient` decides who a client is and `authorize` what it may
 * do. A refused publish closes the client's connection (MQTT 3.1.1 §3.3.5 leaves no other answer); a
 * refused subscription gets the SUBACK failure code 0x80. The Last Will is checked at CONNECT, so a client
 * cannot leave a will on another node's state topic.
 */
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type AedesOptions, type AuthenticateError, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import { authenticatedPeer, tlsServerOptions, type AuthenticatedPeer } from '../../shared/crypto/pki.ts';
import { revokeOnServer, type RevocationTarget } from '../../shared/crypto/revocation-watch.ts';
import { authenticateClient, clientIdAllowed, ConnackCode, type AuthenticationPolicy } from './authenticate.ts';
import { authorize, type Principal } from './authorize.ts';
import { GuardedConnection, type GuardedSocket, type GuardRefusal, type GuardRefusalReason } from './guarded-connection.ts';
import { resolveSiteBrokerOptions, type SiteBrokerInput, type SiteBrokerOptions } from './options.ts';
import { listenOn } from '../../shared/transport/listen.ts';
import { parseTopic } from '../../shared/protocol/index.ts';
import { peekTelemetry } from '../../shared/protocol/telemetry.ts';
import { localPair } from './local-pair.ts';

export interface SiteBrokerStats {
  /** Sockets handed to the guard (after TLS, when on). */
  connections: number;
  /** TLS handshakes that failed (a certificate from another CA, no certificate, TLS < 1.3). */
  tlsRefused: number;
  /** CONNECTs refused by authentication (bad password, no role, wrong client id, a will on a foreign topic). */
  authRefused: number;
  /** Connections the guard cut, by reason. */
  guardRefused: Partial<Record<GuardRefusalReason, number>>;
  publishDenied: number;
  subscribeDenied: number;
}

export interface SiteBroker {
  readonly port: number;
  /** `mqtts://host:port` or `mqtt://host:port` (127.0.0.1 when listening on every address). */
  readonly url: string;
  readonly options: SiteBrokerOptions;
  stats(): SiteBrokerStats;
  /**
   * A connection for the node `nodeId` of this process (the embedding gateway): the stream an MQTT client
   * speaks over, authenticated as that node (its client id and Last Will still checked). After close,
   * a stream that is already closed.
   */
  connectLocal(nodeId: string): Duplex;
  /** A new revocation list (RevocationWatch): new handshakes check it, revoked clients are disconnected. */
  revocationsChanged: RevocationTarget;
  close(): Promise<void>;
}

interface ConnectionState {
  guard: GuardedConnection;
  peer: AuthenticatedPeer | undefined;
  /** A local connection (connectLocal): the node it is, in place of a peer or a password. */
  local?: string;
  connect?: { clientId: string; will: ConnectPacket['will'] };
  principal?: Principal;
}

/** The embedding node itself (connectLocal): an agent of this site, held to its client id like any. */
function localClient(policy: AuthenticationPolicy, nodeId: string, clientId: string): ReturnType<typeof authenticateClient> {
  if (!clientIdAllowed(nodeId, clientId)) return { ok: false, code: ConnackCode.IDENTIFIER_REJECTED, reason: `client id ${JSON.stringify(clientId)} is not node ${nodeId}'s` };
  return { ok: true, principal: { id: nodeId, role: 'agent', site: policy.site, accounts: policy.accountsOf(nodeId) } };
}

/**
 * Telemetry of a gateway whose account is not its node id (`agent init --account`: gateways of a site
 * may share one account). The broker does not know the members' accounts, so it takes such a publish
 * when the envelope inside names this node as its sender and the topic's account in its body (read,
 * not verified: whoever reads it verifies the signature). Anything else stays refused.
 */
function ownTelemetryUnderAccount(principal: Principal, packet: Pick<PublishPacket, 'topic' | 'payload' | 'retain'>): boolean {
  if (principal.role !== 'agent' || packet.retain) return false;
  const topic = parseTopic(packet.topic);
  if (!topic || (topic.kind !== 'heartbeat' && topic.kind !== 'event') || topic.site !== principal.site) return false;
  const message = peekTelemetry(typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload);
  const expected = topic.kind === 'heartbeat' ? 'Heartbeat' : 'TelemetryEvent';
  return message?.type === expected && message.from === principal.id && message.account === topic.account;
}

function authError(code: ConnackCode, reason: string): AuthenticateError {
  return Object.assign(new Error(reason), { returnCode: code as number }) as AuthenticateError;
}

export async function startSiteBroker(input: SiteBrokerInput): Promise<SiteBroker> {
  const options = resolveSiteBrokerOptions(input);
  const { logger } = options;
  const stats: SiteBrokerStats = { connections: 0, tlsRefused: 0, authRefused: 0, guardRefused: {}, publishDenied: 0, subscribeDenied: 0 };
  const states = new WeakMap<object, ConnectionState>();
  const stateOf = (client: Client | null): ConnectionState | undefined => (client ? states.get(client.conn) : undefined);
  const policy: AuthenticationPolicy = {
    site: options.site,
    mode: options.tls === false ? 'plain' : 'tls',
    plainSecret: options.plainSecret,
    allowAnonymous: options.allowAnonymous,
    nodeOf: options.nodeOf,
    accountsOf: options.accountsOf,
  };

  const hooks: AedesOptions = {
    queueLimit: options.connectQueuePacketsMax,
    concurrency: options.deliveryConcurrency,
    connectTimeout: options.connectTimeoutMs,
    maxClientsIdLength: 256,
    preConnect(client, packet, callback) {
      const state = stateOf(client);
      if (state) state.connect = { clientId: packet.clientId ?? '', will: packet.will };
      callback(null, state !== undefined);
    },
    authenticate(client, username, password, done) {
      const state = stateOf(client);
      const connect = state?.connect;
      if (!state || !connect) return done(authError(ConnackCode.NOT_AUTHORIZED, 'unknown connection'), false);
      let result = state.local !== undefined ? localClient(policy, state.local, connect.clientId) : authenticateClient(policy, { peer: state.peer, clientId: connect.clientId, username, password });
      if (result.ok && connect.will) {
        const decision = authorize(result.principal, connect.will.retain ? 'retain' : 'publish', connect.will.topic);
        if (!decision.allowed) result = { ok: false, code: ConnackCode.NOT_AUTHORIZED, reason: `Last Will refused: ${decision.reason}` };
      }
      if (!result.ok) {
        stats.authRefused++;
        logger.warn({ clientId: connect.clientId, identity: state.peer?.identity, reason: result.reason }, 'MQTT client refused');
        return done(authError(result.code, result.reason), false);
      }
      state.principal = result.principal;
      state.guard.authenticated();
      done(null, true);
    },
    authorizePublish(client, packet: PublishPacket, callback) {
      if (client === null) return callback(null); // a will of a client gone before a restart; checked at its CONNECT
      const principal = stateOf(client)?.principal;
      const decision = principal ? authorize(principal, packet.retain ? 'retain' : 'publish', packet.topic) : { allowed: false as const, reason: 'not authenticated' };
      if (decision.allowed || (principal && ownTelemetryUnderAccount(principal, packet))) return callback(null);
      stats.publishDenied++;
      logger.warn({ client: principal?.id, topic: packet.topic, reason: decision.reason }, 'MQTT publish refused; closing the connection');
      callback(new Error(`publish to ${packet.topic} refused: ${decision.reason}`));
    },
    authorizeSubscribe(client, subscription: Subscription, callback) {
      const principal = stateOf(client)?.principal;
      const decision = principal ? authorize(principal, 'subscribe', subscription.topic) : { allowed: false as const, reason: 'not authenticated' };
      if (decision.allowed) return callback(null, subscription);
      stats.subscribeDenied++;
      logger.warn({ client: principal?.id, topic: subscription.topic, reason: decision.reason }, 'MQTT subscription refused');
      callback(null, null);
    },
  };
  const aedes = await Aedes.createBroker(hooks);

  const sockets = new Set<Socket>();
  const locals = new Set<Duplex>();
  const limits = { connectBytesMax: options.connectBytesMax, packetBytesMax: options.packetBytesMax, outgoingBytesMax: options.outgoingBytesMax };
  const onRefused = (socket: Socket) => (refusal: GuardRefusal) => {
    stats.guardRefused[refusal.reason] = (stats.guardRefused[refusal.reason] ?? 0) + 1;
    logger.warn({ remote: socket.remoteAddress, ...refusal }, 'MQTT connection cut by the packet guard');
  };
  const accept = (socket: Socket, peer: AuthenticatedPeer | undefined) => {
    stats.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    const guard = new GuardedConnection(socket, limits, onRefused(socket));
    states.set(guard, { guard, peer });
    aedes.handle(guard);
  };

  let server: Server;
  if (options.tls === false) {
    server = createNetServer((socket) => accept(socket, undefined));
  } else {
    const tlsServer = createTlsServer({ ...tlsServerOptions(options.tls), handshakeTimeout: options.connectTimeoutMs }, (socket: TLSSocket) => {
      const peer = authenticatedPeer(socket);
      if (!peer) {
        stats.tlsRefused++;
        socket.destroy();
        return;
      }
      accept(socket, peer);
    });
    tlsServer.on('tlsClientError', (error, socket) => {
      stats.tlsRefused++;
      logger.warn({ remote: socket.remoteAddress, err: error.message }, 'TLS handshake refused');
      socket.destroy();
    });
    server = tlsServer;
  }
  server.maxConnections = options.connectionsMax;
  try {
    await listenOn(server, options.port, options.host);
  } catch (error) {
    // The broker's own timers would keep the process alive.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  }
  server.on('error', (error) => logger.error({ err: error.message }, 'MQTT listener error'));
  const port = (server.address() as AddressInfo).port;
  const urlHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  logger.info({ port, site: options.site, tls: options.tls !== false }, 'site broker listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `${options.tls === false ? 'mqtt' : 'mqtts'}://${urlHost}:${port}`,
    options,
    stats: () => ({ ...stats, guardRefused: { ...stats.guardRefused } }),
    revocationsChanged(crl, revoked) {
      if (options.tls === false) return;
      const ended = revokeOnServer(server as TlsServer, options.tls, sockets, crl, revoked);
      if (ended > 0) logger.warn({ ended }, 'disconnected MQTT clients whose certificate was revoked');
    },
    connectLocal(nodeId) {
      const [client, brokerSide] = localPair();
      if (closing) {
        brokerSide.destroy();
        return client;
      }
      stats.connections++;
      // No slow-consumer cut: the reader is this process's own node, and what waits for it waits in this
      // process either way. Over the pair (no kernel buffer between the two) a busy turn of the loop let
      // more than the limit queue up: a fresh-clone edge test once saw the node cut off mid-restore.
      const localLimits = { ...limits, outgoingBytesMax: Number.POSITIVE_INFINITY };
      const guard = new GuardedConnection(brokerSide as GuardedSocket, localLimits, (refusal) => logger.warn({ local: nodeId, ...refusal }, 'local MQTT connection cut by the packet guard'));
      states.set(guard, { guard, peer: undefined, local: nodeId });
      locals.add(brokerSide);
      brokerSide.once('close', () => locals.delete(brokerSide));
      aedes.handle(guard);
      return client;
    },
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        for (const local of locals) local.destroy();
        await serverClosed;
      })();
      return closing;
    },
  };
}
