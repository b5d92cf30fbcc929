/**
 * The CA's revocation list from the cluster into this gateway's TLS directories. A gateway's site
 * broker refuses a revoked gateway only once its own `ca.crl` lists it (RevocationWatch), and a site's
 * gateways are many: copying the file to each by hand is what gets forgotten. So the daemon asks the
 * cluster (`GET /v1/pki/crl`) on each of its cloud turns and installs the answer in every TLS
 * directory it uses (`installCrl`: only a list the directory's own CA signed, and only when it holds
 * every entry of the one there and more). A directory of another CA, or a cluster that has revoked nothing, is left as it is.
 */
import { installCrl } from '../../shared/crypto/pki.ts';
import { fetchRevocationList } from '../../shared/crypto/revocation-watch.ts';
import { loadTlsMaterial } from '../../shared/crypto/pki-read.ts';
import { ApiClient } from '../../shared/http/api-client.ts';
import type { Logger } from '../../shared/log.ts';
import { FailoverTransport, serverList, type ApiTransport, type CloudTarget } from './cloud-client.ts';

/**
 * Installs the cluster's list in each of `dirs` whose CA signed it; returns the directories whose list
 * it added to. Never throws: the daemon tries again on its next turn.
 */
export async function refreshRevocations(target: CloudTarget, dirs: readonly string[], logger: Logger, api?: ApiTransport): Promise<string[]> {
  let transport: ApiTransport | undefined;
  const installed: string[] = [];
  try {
    if (api === undefined) {
      const tls = loadTlsMaterial(target.tlsDir, target.certName);
      transport = new FailoverTransport(serverList(target.server), (url) => new ApiClient(url, tls));
    }
    const pem = await fetchRevocationList(api ?? transport!);
    if (pem === undefined) return installed;
    for (const dir of new Set(dirs)) {
      try {
        const r = await installCrl(dir, pem);
        if (r.installed) {
          installed.push(dir);
          logger.info({ dir, revocations: r.revocations }, "installed the cluster's revocation list");
        }
        if (r.diverged) logger.warn({ dir, revocations: r.revocations }, "the cluster's revocation list lacks entries of this directory's: kept this one (revoke them again on the cluster)");
      } catch (error) {
        logger.debug({ dir, err: (error as Error).message }, "the cluster's revocation list is not this directory's CA's");
      }
    }
  } catch (error) {
    logger.debug({ err: (error as Error).message }, "the cluster's revocation list was not read; tried again on the next turn");
  } finally {
    transport?.close();
  }
  return installed;
}
