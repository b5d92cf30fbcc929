/** Helpers shared by the agent's commands: option parsing, the state directory and the cloud flags. */
import { BaksaError, ExitCode } from '../../shared/errors.ts';

export interface StateFlag {
  state: string;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function intFlag(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < -1) {
      throw new BaksaError('USAGE', `--${name} wants a whole number (or -1 for unlimited), got "${value}"`, {
        hint: `for example --${name} 7`,
        exitCode: ExitCode.usage,
      });
    }
    return n;
  };
}

export function stateDirOf(opts: { state?: string }): string {
  const dir = opts.state ?? process.env.BAKSA_STATE;
  if (!dir) {
    throw new BaksaError('USAGE', 'no state directory given', { hint: 'add --state DIR (or set BAKSA_STATE)', exitCode: ExitCode.usage });
  }
  return dir;
}

export interface CloudFlags {
  server?: string;
  tlsDir?: string;
  certName?: string;
}

function usage(flag: string, message: string, hint: string): BaksaError {
  return new BaksaError('USAGE', `${flag}: ${message}`, { hint, exitCode: ExitCode.usage, details: { field: flag } });
}

/**
 * `--server URL --tls-dir DIR --cert-name NAME`, checked before anything is opened: each missing or bad
 * flag is named. The certificate files themselves are read when connecting (PKI_FILE_MISSING names them).
 */
export async function cloudTargetOf(opts: CloudFlags, command: string): Promise<{ server: string; tlsDir: string; certName: string }> {
  const { stat } = await import('node:fs/promises');
  const { loadTlsMaterial, validateHostName } = await import('../../shared/crypto/pki.ts');
  const example = `2baksa ${command} … --server https://HOST:PORT --tls-dir PKI --cert-name ACCOUNT`;
  if (!opts.server) throw usage('--server', `${command} needs the URL of an aggregator node`, `add --server https://HOST:PORT (${example})`);
  const { serverList } = await import('../migrate/cloud-client.ts');
  const urls = serverList(opts.server);
  if (urls.length === 0) throw usage('--server', `"${opts.server}" names no node`, 'give https://HOST:PORT of an aggregator node, or several separated by commas');
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw usage('--server', `"${u}" is not a URL`, 'give https://HOST:PORT of an aggregator node, or several separated by commas');
    }
    if (url.protocol !== 'https:') throw usage('--server', `"${u}" is not an https URL`, 'the cloud API only speaks https with client certificates: give https://HOST:PORT');
  }
  if (!opts.tlsDir) throw usage('--tls-dir', `${command} needs the directory of the CA certificate and this agent's certificate`, `add --tls-dir DIR (${example})`);
  const dir = await stat(opts.tlsDir).catch(() => undefined);
  if (!dir?.isDirectory()) throw usage('--tls-dir', `${opts.tlsDir} is not a directory`, 'give the directory holding ca.crt, NAME.crt and NAME.key');
  if (!opts.certName) throw usage('--cert-name', `${command} needs the name of this agent's certificate in --tls-dir`, `add --cert-name ACCOUNT (the certificate issued with 2baksa pki issue --name ACCOUNT --role agent)`);
  try {
    validateHostName('--cert-name', opts.certName);
  } catch (error) {
    throw usage('--cert-name', (error as Error).message.replace(/^--cert-name: /, ''), 'give the name the agent certificate was issued for (its account name)');
  }
  // Read now, not at the first request: a migrate with nothing left to send makes none, and would
  // otherwise report success with a certificate that does not exist (PKI_FILE_MISSING names the file).
  loadTlsMaterial(opts.tlsDir, opts.certName);
  return { server: opts.server, tlsDir: opts.tlsDir, certName: opts.certName };
}

/** `--from local|cloud`. */
export function fromFlag(value: string | undefined): 'local' | 'cloud' {
  const v = value ?? 'local';
  if (v !== 'local' && v !== 'cloud') throw usage('--from', `"${value}" is neither local nor cloud`, 'give --from local (the shard store here, the default) or --from cloud (with --server, --tls-dir, --cert-name)');
  return v;
}
