/**
 * `server.listen` as a promise: resolves once the server is bound, rejects with the bind error
 * (EADDRINUSE, EACCES, …) instead of leaving it to the server's 'error' listeners.
 */
import type { Server } from 'node:net';

export function listenOn(server: Server, ...at: [port: number, host: string] | [path: string]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const bound = () => {
      server.off('error', reject);
      resolve();
    };
    if (at.length === 1) server.listen(at[0], bound);
    else server.listen(at[0], at[1], bound);
  });
}
