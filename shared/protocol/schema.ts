/**
 * Small hand-written validators for decoded MessagePack, cheap enough for thousands of consensus messages a
 * second. A `Schema<T>` checks an `unknown` and returns a fresh, typed value holding only the known fields
 * (unknown fields are dropped, so the output never carries anything the schema did not name).
 *
 * The happy path builds no strings: a failure throws a `SchemaFailure` carrying the path from the failing
 * leaf, and each enclosing object or array adds its key on the way out. `parseWith` turns that into a
 * ProtocolError SCHEMA naming the dotted field (`body.shards.3.hash`).
 *
 * Schemas from zod (or anything with `safeParse`) plug in through `fromSafeParse`.
 */
import { ProtocolError } from './errors.ts';

export interface Schema<T> {
  /** Returns the validated value or throws SchemaFailure. */
  readonly parse: (value: unknown) => T;
  /** Marks a field that may be absent (set by `optional`). */
  readonly optional?: boolean;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

/** Thrown inside schemas; `parseWith` converts it into a ProtocolError SCHEMA. */
export class SchemaFailure extends Error {
  readonly path: (string | number)[] = [];
  constructor(readonly expected: string) {
    super(expected);
  }
}

function fail(expected: string): never {
  throw new SchemaFailure(expected);
}

function at<T>(key: string | number, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SchemaFailure) error.path.unshift(key);
    throw error;
  }
}

/** Runs `schema` and reports a failure as ProtocolError SCHEMA, its field prefixed by `root`. */
export function parseWith<T>(schema: Schema<T>, value: unknown, root = ''): T {
  try {
    return schema.parse(value);
  } catch (error) {
    if (!(error instanceof SchemaFailure)) throw error;
    const field = [root, ...error.path].filter((p) => p !== '').join('.');
    throw new ProtocolError('SCHEMA', `${field || 'value'}: expected ${error.expected}`, field || undefined);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

export interface UintOptions {
  min?: number;
  max?: number;
}

/** A non-negative safe integer within [min, max]. */
export function uint(options: UintOptions = {}): Schema<number> {
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const expected = `an integer in [${min}, ${max}]`;
  return {
    parse(value) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
        fail(`${expected}, got ${typeof value === 'number' ? value : describe(value)}`);
      }
      return value;
    },
  };
}

export function bool(): Schema<boolean> {
  return {
    parse(value) {
      if (typeof value !== 'boolean') fail(`a boolean, got ${describe(value)}`);
      return value;
    },
  };
}

export interface StrOptions {
  min?: number;
  /** Maximum length in UTF-16 code units (the decoder already caps UTF-8 bytes). */
  max: number;
  /** Characters that may not appear. */
  forbidden?: RegExp;
}

export function str(options: StrOptions): Schema<string> {
  const min = options.min ?? 0;
  const { max, forbidden } = options;
  const expected = `a string of ${min}..${max} characters`;
  return {
    parse(value) {
      if (typeof value !== 'string' || value.length < min || value.length > max) {
        fail(`${expected}, got ${typeof value === 'string' ? `${value.length} characters` : describe(value)}`);
      }
      if (forbidden && forbidden.test(value)) fail(`a string without ${forbidden.source}`);
      return value;
    },
  };
}

export function literal<const L extends string | number | boolean>(expectedValue: L): Schema<L> {
  return {
    parse(value) {
      if (value !== expectedValue) fail(`${JSON.stringify(expectedValue)}, got ${describe(value)}`);
      return value as L;
    },
  };
}

export function oneOf<const L extends string>(values: readonly L[]): Schema<L> {
  const set = new Set<unknown>(values);
  return {
    parse(value) {
      if (!set.has(value)) fail(`one of ${values.join(', ')}`);
      return value as L;
    },
  };
}

export interface BytesOptions {
  /** Exact length; overrides min/max. */
  len?: number;
  min?: number;
  max?: number;
}

/** A binary value. The result is the decoder's view into the input, not a copy. */
export function bytes(options: BytesOptions = {}): Schema<Uint8Array> {
  const min = options.len ?? options.min ?? 0;
  const max = options.len ?? options.max ?? Number.MAX_SAFE_INTEGER;
  const expected = min === max ? `${min} bytes` : `${min}..${max} bytes`;
  return {
    parse(value) {
      if (!(value instanceof Uint8Array) || value.length < min || value.length > max) {
        fail(`${expected}, got ${describe(value)}`);
      }
      return value;
    },
  };
}

export function array<T>(item: Schema<T>, options: { min?: number; max: number }): Schema<T[]> {
  const min = options.min ?? 0;
  const { max } = options;
  return {
    parse(value) {
      if (!Array.isArray(value) || value.length < min || value.length > max) {
        fail(`an array of ${min}..${max} items, got ${Array.isArray(value) ? `${value.length} items` : describe(value)}`);
      }
      const out = new Array<T>(value.length);
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        try {
          out[i] = item.parse(v);
        } catch (error) {
          if (error instanceof SchemaFailure) error.path.unshift(i);
          throw error;
        }
      }
      return out;
    },
  };
}

export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return {
    optional: true,
    parse(value) {
      return value === undefined || value === null ? undefined : inner.parse(value);
    },
  };
}

type Shape = Record<string, Schema<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
export type ObjectOf<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }
>;

export interface ObjectOptions<T> {
  /** A cross-field check: returns [field, expectation] when the value is invalid. */
  check?: (value: T) => readonly [field: string, expected: string] | undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A map with the named fields. Absent optional fields stay absent in the output; unknown fields are dropped.
 * The output is a fresh object whose keys come in the order of `shape`.
 */
export function object<S extends Shape>(shape: S, options: ObjectOptions<ObjectOf<S>> = {}): Schema<ObjectOf<S>> {
  const fields = Object.keys(shape).map((key) => [key, shape[key]!] as const);
  const { check } = options;
  return {
    parse(value) {
      if (!isPlainObject(value)) fail(`a map, got ${describe(value)}`);
      const out: Record<string, unknown> = {};
      for (const [key, schema] of fields) {
        const raw = Object.hasOwn(value, key) ? value[key] : undefined;
        let parsed: unknown;
        try {
          parsed = schema.parse(raw);
        } catch (error) {
          if (error instanceof SchemaFailure) error.path.unshift(key);
          throw error;
        }
        if (parsed !== undefined) out[key] = parsed;
      }
      const result = out as ObjectOf<S>;
      if (check) {
        const problem = check(result);
        if (problem) at(problem[0], () => fail(problem[1]));
      }
      return result;
    },
  };
}

/** Applies a further check to a schema's output. */
export function refine<T>(inner: Schema<T>, expected: string, ok: (value: T) => boolean): Schema<T> {
  return {
    ...(inner.optional ? { optional: true } : {}),
    parse(value) {
      const v = inner.parse(value);
      if (!ok(v)) fail(expected);
      return v;
    },
  };
}

interface SafeParser<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/** Adapts a zod schema (or anything with the same `safeParse`) to a Schema. */
export function fromSafeParse<T>(parser: SafeParser<T>): Schema<T> {
  return {
    parse(value) {
      const result = parser.safeParse(value);
      if (result.success) return result.data;
      const issue = result.error.issues[0];
      const failure = new SchemaFailure(issue?.message ?? 'a valid value');
      for (const p of issue?.path ?? []) failure.path.push(typeof p === 'number' ? p : String(p));
      throw failure;
    },
  };
}
