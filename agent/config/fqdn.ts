/**
 * Proposes the host's fully qualified name: os.hostname(), then the canonical name from the resolver
 * (address lookup, then reverse lookup of that address), best effort with a short timeout.
 */
import { hostname } from 'node:os';
import { promises as dns } from 'node:dns';
import { hostNamePattern } from './schema.ts';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

export function normalizeHostName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

export async function proposeFqdn(timeoutMs = 1500): Promise<string> {
  const short = normalizeHostName(hostname()) || 'localhost';
  if (short.includes('.')) return short;
  const found = await withTimeout(
    (async () => {
      const { address } = await dns.lookup(short);
      const { hostname: canonical } = await dns.lookupService(address, 0);
      return normalizeHostName(canonical);
    })(),
    timeoutMs,
  );
  if (found && found.includes('.') && hostNamePattern.test(found) && found.split('.')[0] === short.split('.')[0]) return found;
  return hostNamePattern.test(short) ? short : 'localhost';
}
