/**
 * A tiny typed schema checker for JSON data (firmware profiles, agent config). Hand-written rather than
 * zod because the agent starts on every backup and zod alone costs ~120 ms of startup on a small gateway.
 *
 * A schema is a tree of `Check`s; `check(schema, value)` returns the typed value or throws
 * `configError(field, message)` naming the dotted path of the first bad field. Unknown fields are refused
 * (a typo in a profile must not silently fall back to a default). An absent optional field stays
 * undefined, or takes its declared default (`withDefault`).
 */
import { configError } from '../../shared/errors.ts';

export type Check<T> = (value: unknown, field: string) => T;
export type Infer<C> = C extends Check<infer T> ? T : never;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value}"` : typeof value === 'object' ? 'an object' : String(value);
}

export function int(min: number, max: number = Number.MAX_SAFE_INTEGER): Check<number> {
  return (v, field) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw configError(field, `must be an integer, got ${describe(v)}`);
    if (v < min || v > max) throw configError(field, `must be between ${min} and ${max}, got ${v}`);
    return v;
  };
}

export function str(pattern?: RegExp, what = 'a string'): Check<string> {
  return (v, field) => {
    if (typeof v !== 'string') throw configError(field, `must be ${what}, got ${describe(v)}`);
    if (pattern && !pattern.test(v)) throw configError(field, `must be ${what}, got ${describe(v)}`);
    return v;
  };
}

export function bool(): Check<boolean> {
  return (v, field) => {
    if (typeof v !== 'boolean') throw configError(field, `must be true or false, got ${describe(v)}`);
    return v;
  };
}

export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  return (v, field) => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw configError(field, `must be one of ${values.join(', ')}, got ${describe(v)}`);
    }
    return v as T;
  };
}

export function array<T>(item: Check<T>, maxItems = 10_000): Check<T[]> {
  return (v, field) => {
    if (!Array.isArray(v)) throw configError(field, `must be an array, got ${describe(v)}`);
    if (v.length > maxItems) throw configError(field, `must have at most ${maxItems} items`);
    return v.map((x, i) => item(x, `${field}[${i}]`));
  };
}

/** Marks a field optional: absent (undefined) is allowed and stays undefined. */
export function optional<T>(inner: Check<T>): Check<T | undefined> {
  const c: Check<T | undefined> = (v, field) => (v === undefined ? undefined : inner(v, field));
  (c as { optional?: boolean }).optional = true;
  return c;
}

/** An optional field that reads as `fallback` when absent, so its users see one type and no undefined. */
export function withDefault<T>(inner: Check<T>, fallback: T): Check<T> {
  const c: Check<T> = (v, field) => (v === undefined ? fallback : inner(v, field));
  (c as { optional?: boolean }).optional = true;
  return c;
}

type Shape = Record<string, Check<unknown>>;
type ObjectOf<S extends Shape> = { [K in keyof S as undefined extends Infer<S[K]> ? never : K]: Infer<S[K]> } & {
  [K in keyof S as undefined extends Infer<S[K]> ? K : never]?: Infer<S[K]>;
};

export function object<S extends Shape>(shape: S): Check<ObjectOf<S>> {
  return (v, field) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw configError(field || '(root)', `must be an object, got ${describe(v)}`);
    }
    const input = v as Record<string, unknown>;
    const at = (k: string) => (field ? `${field}.${k}` : k);
    for (const key of Object.keys(input)) {
      if (!Object.hasOwn(shape, key)) throw configError(at(key), 'is not a known field');
    }
    const out: Record<string, unknown> = {};
    for (const [key, check] of Object.entries(shape)) {
      const optionalField = (check as { optional?: boolean }).optional === true;
      if (input[key] === undefined && !optionalField) throw configError(at(key), 'is missing');
      const value = check(input[key], at(key));
      if (value !== undefined) out[key] = value;
    }
    return out as ObjectOf<S>;
  };
}

/** Adds a cross-field rule; `rule` returns [field, message] when the value is wrong. */
export function refine<T>(inner: Check<T>, rule: (value: T) => [string, string] | undefined): Check<T> {
  return (v, field) => {
    const value = inner(v, field);
    const bad = rule(value);
    if (bad) throw configError(field ? `${field}.${bad[0]}` : bad[0], bad[1]);
    return value;
  };
}
