/**
 * The MQTT endpoint an aggregator node can run for its agents' telemetry (`mqtt.embedded` in the node
 * config): aedes behind the site broker's socket guard (agent/broker/guarded-connection.ts), so a
 * packet over the cap is cut at its header and a subscriber that stops reading is disconnected instead
 * of stalling delivery to everyone else. `$SYS` and other `$` topics are refused.
 *
 * With `tls` (what `aggregator init` writes): mqtts, TLS 1.3 with mutual certificates from the
 * cluster CA, as every other link of the cluster (DESIGN §8). A client is its certificate: its CN and
 * role decide what it may publish and read (broker-acl.ts); an agent's certificate names its account,
 * which the node's account database turns into the account's number when the client connects. A
 * client id is the identity or `<identity>:<anything>`, so nobody takes over another's session. A
 * refused publish closes the connection (MQTT 3.1.1 leaves no other answer); a refused subscription
 * gets SUBACK 0x80.
 *
 * Without it: plain MQTT for a trusted network, as before: every telemetry message is a signed envelope
 * checked by the monitor against the agent's pinned key, so a client there can drop or delay messages
 * (as any network can) but never forge them; anyone on the network can read them, though.
 */
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type AedesOptions, type AuthenticateError, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from 'pino';
import { clientIdAllowed, ConnackCode, GuardedConnection, type GuardLimits } from '../../agent/broker/index.ts';
import { authenticatedPeer, tlsServerOptions, type AuthenticatedPeer, type TlsMaterial } from '../../shared/crypto/pki.ts';
import { revokeOnServer, type RevocationTarget } from '../../shared/crypto/revocation-watch.ts';
import { listenOn } from '../../shared/transport/listen.ts';
import { authorizeDc, claimedTelemetryAccount, isOwnAccount, type DcDecision, type DcPrincipal } from './broker-acl.ts';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** A new revocation list (RevocationWatch): new handshakes check it, revoked clients are disconnected. */
  revocationsChanged: RevocationTarget;
  stop(): Promise<void>;
}

export const defaultEmbeddedBrokerLimits: GuardLimits = {
  connectBytesMax: 4 * 1024,
  packetBytesMax: 256 * 1024,
  outgoingBytesMax: 16 * 1024 * 1024,
};

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** The cluster whose `dc/<cluster>/…` topics the endpoint serves. */
  cluster: string;
  /** The node's certificate and the cluster CA: mqtts with client certificates. Absent: plain MQTT. */
  tls?: TlsMaterial;
  /** The account an agent certificate's CN names (by name), from the account database; undefined when unknown. */
  accountOf?: (name: string) => Promise<{ name: string; number: number } | undefined>;
  limits?: GuardLimits;
}

interface ConnectionState {
  guard: GuardedConnection;
  peer: AuthenticatedPeer | undefined;
  connect?: { clientId: string; will: ConnectPacket['will'] };
  principal?: DcPrincipal;
}

function authError(code: number, reason: string): AuthenticateError {
  return Object.assign(new Error(reason), { returnCode: code }) as AuthenticateError;
}

/** What `p` may publish: the topic's rule, and for a Register or Deregister the account inside it too. */
function publishDecision(p: DcPrincipal, packet: { topic: string; payload: string | Uint8Array; retain?: boolean | undefined }, cluster: string): DcDecision {
  const decision = authorizeDc(p, packet.retain ? 'retain' : 'publish', packet.topic, cluster);
  if (!decision.allowed || p.role !== 'agent' || !/\/(de)?register$/.test(packet.topic)) return decision;
  const claimed = claimedTelemetryAccount(typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload);
  if (claimed === undefined) return { allowed: false, reason: 'not a Register or Deregister message' };
  return isOwnAccount(p, claimed) ? decision : { allowed: false, reason: `the message names account ${claimed}, not this certificate's (${p.identity})` };
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { logger, cluster, tls } = options;
  const limits = options.limits ?? defaultEmbeddedBrokerLimits;
  const states = new WeakMap<object, ConnectionState>();
  const stateOf = (client: Client | null): ConnectionState | undefined => (client ? states.get(client.conn) : undefined);

  const plainHooks: AedesOptions = {
    authenticate(client: Client, _username, _password, done) {
      stateOf(client)?.guard.authenticated();
      done(null, true);
    },
    authorizePublish(_client, packet, done) {
      done(packet.topic.startsWith('$') ? new Error('$ topics are reserved') : null);
    },
    authorizeSubscribe(_client, sub, done) {
      done(null, sub.topic.startsWith('$') ? null : sub);
    },
  };
  const tlsHooks: AedesOptions = {
    maxClientsIdLength: 256,
    preConnect(client, packet, callback) {
      const state = stateOf(client);
      if (state) state.connect = { clientId: packet.clientId ?? '', will: packet.will };
      callback(null, state !== undefined);
    },
    authenticate(client, _username, _password, done) {
      const state = stateOf(client);
      const peer = state?.peer;
      const connect = state?.connect;
      const refuse = (code: number, reason: string) => {
        logger.warn({ clientId: connect?.clientId, identity: peer?.identity, reason }, 'MQTT client refused');
        done(authError(code, reason), false);
      };
      if (!state || !peer || !connect) return refuse(ConnackCode.NOT_AUTHORIZED, 'no client certificate');
      if (peer.role === undefined) return refuse(ConnackCode.NOT_AUTHORIZED, `certificate ${peer.identity} names no role`);
      if (!clientIdAllowed(peer.identity, connect.clientId)) {
        return refuse(ConnackCode.IDENTIFIER_REJECTED, `client id ${JSON.stringify(connect.clientId)} is not ${peer.identity}'s`);
      }
      const lookup = peer.role === 'agent' && options.accountOf ? options.accountOf(peer.identity) : Promise.resolve(undefined);
      lookup.then(
        (account) => {
          const principal: DcPrincipal = { identity: peer.identity, role: peer.role!, account };
          const will = connect.will;
          if (will) {
            const decision = publishDecision(principal, will, cluster);
            if (!decision.allowed) return refuse(ConnackCode.NOT_AUTHORIZED, `Last Will refused: ${decision.reason}`);
          }
          state.principal = principal;
          state.guard.authenticated();
          done(null, true);
        },
        (error: Error) => refuse(3, `the account database did not answer: ${error.message}`), // 3: server unavailable, try again
      );
    },
    authorizePublish(client, packet: PublishPacket, callback) {
      if (client === null) return callback(null); // a will, checked at its CONNECT
      const principal = stateOf(client)?.principal;
      const decision = principal ? publishDecision(principal, packet, cluster) : { allowed: false as const, reason: 'not authenticated' };
      if (decision.allowed) return callback(null);
      logger.warn({ client: principal?.identity, topic: packet.topic, reason: decision.reason }, 'MQTT publish refused; closing the connection');
      callback(new Error(`publish to ${packet.topic} refused: ${decision.reason}`));
    },
    authorizeSubscribe(client, subscription: Subscription, callback) {
      const principal = stateOf(client)?.principal;
      const decision = principal ? authorizeDc(principal, 'subscribe', subscription.topic, cluster) : { allowed: false as const, reason: 'not authenticated' };
      if (decision.allowed) return callback(null, subscription);
      logger.warn({ client: principal?.identity, topic: subscription.topic, reason: decision.reason }, 'MQTT subscription refused');
      callback(null, null);
    },
  };
  const aedes = await Aedes.createBroker(tls ? tlsHooks : plainHooks);

  const sockets = new Set<Socket>();
  const accept = (socket: Socket, peer: AuthenticatedPeer | undefined) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    const guard = new GuardedConnection(socket, limits, (refusal) => {
      logger.warn({ remote: socket.remoteAddress, reason: refusal.reason }, 'mqtt client cut off');
      socket.destroy();
    });
    states.set(guard, { guard, peer });
    aedes.handle(guard);
  };
  let server: Server;
  if (tls) {
    const tlsServer = createTlsServer({ ...tlsServerOptions(tls), handshakeTimeout: 10_000 }, (socket: TLSSocket) => {
      const peer = authenticatedPeer(socket);
      if (!peer) return socket.destroy();
      accept(socket, peer);
    });
    tlsServer.on('tlsClientError', (error, socket) => {
      logger.warn({ remote: socket.remoteAddress, err: error.message }, 'MQTT TLS handshake refused');
      socket.destroy();
    });
    server = tlsServer;
  } else {
    server = createNetServer((socket) => accept(socket, undefined));
  }
  try {
    await listenOn(server, options.port, options.host);
  } catch (error) {
    // The broker's own timers would keep the process alive.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  }
  const bound = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `${tls ? 'mqtts' : 'mqtt'}://${host}:${bound}`;
  if (tls) logger.info({ url }, 'cluster MQTT endpoint listening (mqtts, client certificates)');
  else logger.warn({ url }, 'the cluster MQTT endpoint speaks plain MQTT: use it on trusted links only (mqtt.embedded.tls: true for mqtts)');
  return {
    url,
    port: bound,
    revocationsChanged(crl, revoked) {
      if (!tls) return;
      const ended = revokeOnServer(server as TlsServer, tls, sockets, crl, revoked);
      if (ended > 0) logger.warn({ ended }, 'disconnected MQTT clients whose certificate was revoked');
    },
    async stop() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
