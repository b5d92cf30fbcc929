/**
 * How consensus ids map to transport names.
 *
 * - Replica ids 0..n-1 are the transport names in `replicaNames` (for TLS: the replicas' certificate
 *   names), in id order.
 * - A client link is one transport connection, named by the transport (for TLS: the client
 *   certificate's name, via `acceptClient`). Many logical consensus clients share one link: a client
 *   id is `<linkId>` or `<linkId>/<anything>`, and the reply to it goes back on link `<linkId>` (the
 *   part before the first "/"). A replica takes a request straight from a link only if the request's
 *   client id belongs to that link; every logical client of a link signs with the link's key.
 */
import { configError } from '../errors.ts';
import type { ClientId } from '../consensus/index.ts';

export const LOGICAL_CLIENT_SEPARATOR = '/';

/** The transport link a client id answers on. */
export function clientLinkOf(client: ClientId): string {
  const at = client.indexOf(LOGICAL_CLIENT_SEPARATOR);
  return at < 0 ? client : client.slice(0, at);
}

/** The id of logical client `index` on link `linkId`. */
export function logicalClientId(linkId: string, index: number): ClientId {
  return `${linkId}${LOGICAL_CLIENT_SEPARATOR}${index}`;
}

/**
 * A client-key lookup for `ReplicaKeys.clients`: every logical client of a link verifies with the
 * link's Ed25519 public key.
 */
export function linkKeyResolver(linkKeys: ReadonlyMap<string, Uint8Array>): (client: ClientId) => Uint8Array | undefined {
  return (client) => linkKeys.get(clientLinkOf(client));
}

/** Transport name -> replica id, refusing duplicate names. */
export function replicaIdsByName(replicaNames: readonly string[]): Map<string, number> {
  const ids = new Map<string, number>();
  replicaNames.forEach((name, id) => {
    if (ids.has(name)) throw configError('replicaNames', `"${name}" is given twice`);
    ids.set(name, id);
  });
  return ids;
}
