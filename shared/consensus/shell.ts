/**
 * The smallest shell: performs a replica's actions in order over an injected I/O interface, encoding
 * each message once with the codec. It keeps the ordering rule (a persist is awaited before any later
 * send or reply), so a transport only moves bytes to replica ids and clients, and a store only makes
 * records durable. The I/O itself lives with the caller (TLS links, MQTT topics, files).
 */
import { encodeMessage } from './codec.ts';
import type { PersistRecord } from './persistence.ts';
import type { Action, ClientId, ReplicaId } from './types.ts';

export interface ReplicaIo {
  readonly self: ReplicaId;
  readonly n: number;
  /** Resolves once the record is durable (fsynced). */
  persist(record: PersistRecord): Promise<void> | void;
  send(to: ReplicaId, bytes: Uint8Array): void;
  reply(client: ClientId, bytes: Uint8Array): void;
  /** Informational actions: execute, state-transferred, new-view, stable-checkpoint. */
  observe?(action: Action): void;
}

export async function performActions(actions: readonly Action[], io: ReplicaIo): Promise<void> {
  for (const a of actions) {
    switch (a.type) {
      case 'persist':
        await io.persist(a.record);
        break;
      case 'send':
        io.send(a.to, encodeMessage(a.message));
        break;
      case 'broadcast': {
        const bytes = encodeMessage(a.message);
        for (let to = 0; to < io.n; to++) if (to !== io.self) io.send(to, bytes);
        break;
      }
      case 'reply':
        io.reply(a.client, encodeMessage(a.message));
        break;
      case 'execute':
      case 'state-transferred':
      case 'new-view':
      case 'stable-checkpoint':
        io.observe?.(a);
        break;
      default: {
        const never: never = a;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }
}
