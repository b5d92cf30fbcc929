/**
 * Who a connecting client is (pure; the site broker feeds it what the socket and CONNECT packet say).
 *
 * - TLS mode: the identity is the certificate's CN and the role its `urn:2baksa:role:` SAN (the TLS layer
 *   has already verified the chain against our CA). An agent's node id is `nodeOf(identity)` (by default
 *   the identity itself); a certificate without a role, or an agent that maps to no node, is refused.
 *   Username and password are ignored.
 * - Plain mode (`tls: false`, trusted links only): the username is the node id (role agent) and the
 *   password must equal the configured shared secret. With `allowAnonymous: true` (tests only) no
 *   password is needed and a client without a username is known by its client id up to the first ':'.
 *
 * A client id must be empty (the broker assigns one), the node id, or `<nodeId>:<anything>`, so no client
 * can take over another node's session (which would fire that node's Last Will).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthenticatedPeer } from '../../shared/crypto/pki.ts';
import { isValidSegment } from '../../shared/protocol/topics.ts';
import type { Principal } from './authorize.ts';

/** MQTT 3.1.1 CONNACK return codes the broker uses. */
export const ConnackCode = { IDENTIFIER_REJECTED: 2, BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5 } as const;
export type ConnackCode = (typeof ConnackCode)[keyof typeof ConnackCode];

export interface AuthenticationPolicy {
  site: string;
  mode: 'tls' | 'plain';
  /** Plain mode: the password every node presents. */
  plainSecret?: string | undefined;
  /** Plain mode: accept clients without a password (tests only). */
  allowAnonymous: boolean;
  /** An agent certificate's identity → its node id; undefined refuses it. */
  nodeOf: (identity: string) => string | undefined;
  /** The accounts whose telemetry an agent publishes. */
  accountsOf: (nodeId: string) => readonly string[];
}

export interface ConnectAttempt {
  /** The verified TLS peer (TLS mode). */
  peer?: Pick<AuthenticatedPeer, 'identity' | 'role'> | undefined;
  clientId: string;
  username?: string | undefined;
  password?: Uint8Array | undefined;
}

export type Authentication = { ok: true; principal: Principal } | { ok: false; code: ConnackCode; reason: string };

function refuse(code: ConnackCode, reason: string): Authentication {
  return { ok: false, code, reason };
}

function sameSecret(given: Uint8Array, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** True when `clientId` may be used by `id` (see the file comment). */
export function clientIdAllowed(id: string, clientId: string): boolean {
  return clientId === '' || clientId === id || clientId.startsWith(`${id}:`);
}

function principalFor(policy: AuthenticationPolicy, attempt: ConnectAttempt): Authentication {
  if (policy.mode === 'tls') {
    const peer = attempt.peer;
    if (!peer) return refuse(ConnackCode.NOT_AUTHORIZED, 'no verified client certificate');
    if (!peer.role) return refuse(ConnackCode.NOT_AUTHORIZED, `certificate ${peer.identity} carries no role`);
    if (peer.role !== 'agent') return { ok: true, principal: { id: peer.identity, role: peer.role, site: policy.site, accounts: [] } };
    const nodeId = policy.nodeOf(peer.identity);
    if (nodeId === undefined || !isValidSegment(nodeId)) return refuse(ConnackCode.NOT_AUTHORIZED, `agent ${peer.identity} is not a node of site ${policy.site}`);
    return { ok: true, principal: { id: nodeId, role: 'agent', site: policy.site, accounts: policy.accountsOf(nodeId) } };
  }
  const username = attempt.username;
  if (!policy.allowAnonymous) {
    if (username === undefined || attempt.password === undefined) return refuse(ConnackCode.BAD_USERNAME_OR_PASSWORD, 'plain mode needs a username (the node id) and the site password');
    if (policy.plainSecret === undefined || !sameSecret(attempt.password, policy.plainSecret)) return refuse(ConnackCode.BAD_USERNAME_OR_PASSWORD, 'wrong password');
  }
  const nodeId = username ?? attempt.clientId.split(':')[0]!;
  if (!isValidSegment(nodeId)) return refuse(ConnackCode.IDENTIFIER_REJECTED, 'the username (node id) is missing or not a topic segment');
  return { ok: true, principal: { id: nodeId, role: 'agent', site: policy.site, accounts: policy.accountsOf(nodeId) } };
}

/** Authenticates one CONNECT. */
export function authenticateClient(policy: AuthenticationPolicy, attempt: ConnectAttempt): Authentication {
  const result = principalFor(policy, attempt);
  if (result.ok && !clientIdAllowed(result.principal.id, attempt.clientId)) {
    return refuse(ConnackCode.IDENTIFIER_REJECTED, `client id ${JSON.stringify(attempt.clientId)} must be "${result.principal.id}" or start with "${result.principal.id}:"`);
  }
  return result;
}
