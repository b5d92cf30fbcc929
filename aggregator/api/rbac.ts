/**
 * RBAC from the client certificate (DESIGN §8). Mutual TLS has already proved the certificate comes from
 * our CA; its SAN role and CN identity decide what the request may do:
 *   admin    System Administrator: accounts, groups, quotas, config, reports;
 *   auditor  ledger blocks, proofs and reports — never data;
 *   operator Backup Operator: submit backups, job status, restore/download, for every account;
 *   agent    the same as operator, for its own account only (CN = the account's name or hex number).
 * A certificate without a known role may do nothing.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { authenticatedPeer, type Role } from '../../shared/crypto/pki.ts';
import { formatAccountNumber } from '../accounts/names.ts';
import type { Account } from '../accounts/types.ts';
import { apiError, forbidden } from './errors.ts';

export interface Principal {
  identity: string;
  role: Role | undefined;
}

export function principalOf(request: FastifyRequest): Principal {
  const peer = authenticatedPeer(request.raw.socket as TLSSocket);
  if (!peer) throw apiError('UNAUTHENTICATED', 'no verified client certificate', 'connect with a certificate issued by the cluster CA');
  return { identity: peer.identity, role: peer.role };
}

export function requireRole(principal: Principal, roles: readonly Role[], what: string): void {
  if (principal.role === undefined || !roles.includes(principal.role)) {
    throw forbidden(`${principal.identity} (role ${principal.role ?? 'none'}) may not ${what}; allowed: ${roles.join(', ')}`);
  }
}

/** An agent acts only for its own account. */
export function requireOwnAccount(principal: Principal, account: Pick<Account, 'name' | 'number'>): void {
  if (principal.role !== 'agent') return;
  const id = principal.identity.toLowerCase();
  if (id !== account.name && id !== formatAccountNumber(account.number) && id !== formatAccountNumber(account.number).slice(2)) {
    throw forbidden(`agent ${principal.identity} may act only for its own account, not ${account.name}`);
  }
}
