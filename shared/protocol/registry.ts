/**
 * The registry of message types: type name → body schema. The envelope decoder looks the type up here, so
 * an unknown type is refused (UNKNOWN_TYPE) before its body is looked at. The built-in protocol messages are
 * in `defaultRegistry`; a module with messages of its own registers them once at import time with
 * `registerMessageType`, or builds a private `MessageRegistry` and passes it to seal/open.
 */
import { assert } from '../errors.ts';
import { builtinSchemas, type MessageBodies } from './messages.ts';
import type { Schema } from './schema.ts';

export type MessageType = keyof MessageBodies & string;
/** The body type of a registered type name; `unknown` for names not declared in MessageBodies. */
export type BodyOf<K extends string> = K extends keyof MessageBodies ? MessageBodies[K] : unknown;

export const PROTOCOL_VERSION = 1;
export type ProtocolVersion = typeof PROTOCOL_VERSION;

/** A decoded (or to-be-sent) message: the signed payload of an envelope. */
export type Message<K extends MessageType = MessageType> = {
  [T in K]: {
    v: ProtocolVersion;
    type: T;
    /** Sender id; its public key verifies the envelope. */
    from: string;
    /** Recipient id, when addressed to one node. */
    to?: string;
    /** 16 random bytes, unique per sender; the replay guard remembers it. */
    id: Uint8Array;
    /** Sender time, ms since the epoch. */
    ts: number;
    body: MessageBodies[T];
  };
}[K];

const TYPE_NAME = /^[A-Za-z][A-Za-z0-9._:-]{0,63}$/;

export class MessageRegistry {
  private readonly schemas = new Map<string, Schema<unknown>>();

  /** Registers a type. Registering a name twice with a different schema is a programmer error. */
  register<K extends string>(type: K, schema: Schema<BodyOf<K>>): this {
    assert(TYPE_NAME.test(type), `message type name ${JSON.stringify(type)} must match ${TYPE_NAME.source}`);
    const existing = this.schemas.get(type);
    assert(existing === undefined || existing === schema, `message type ${type} is already registered`);
    this.schemas.set(type, schema as Schema<unknown>);
    return this;
  }

  schemaOf(type: string): Schema<unknown> | undefined {
    return this.schemas.get(type);
  }

  has(type: string): boolean {
    return this.schemas.has(type);
  }

  types(): string[] {
    return [...this.schemas.keys()];
  }

  /** A registry holding the built-in protocol messages only. */
  static withBuiltins(): MessageRegistry {
    const registry = new MessageRegistry();
    for (const [type, schema] of Object.entries(builtinSchemas)) registry.register(type, schema as Schema<unknown>);
    return registry;
  }
}

export const defaultRegistry: MessageRegistry = MessageRegistry.withBuiltins();

/** Adds a message type to the default registry (once, at module load). */
export function registerMessageType<K extends string>(type: K, schema: Schema<BodyOf<K>>): void {
  defaultRegistry.register(type, schema);
}
