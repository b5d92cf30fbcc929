/**
 * The shape of every account command, checked before `apply` touches the database. Commands arrive
 * from the CLI, the REST API and (later) consensus requests from other replicas, so a malformed one is
 * refused with the name of the bad field instead of reaching SQL.
 */
import { z } from 'zod';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { ACCOUNT_NUMBER_MAX } from './names.ts';
import type { AccountCommand } from './types.ts';

export const OBJECT_ID_CHARS_MAX = 128;
/** An object's cluster layout (JSON) recorded with it: a manifest reference, well under this. */
export const OBJECT_LAYOUT_CHARS_MAX = 8192;
/** Objects in one RecordObjects command. */
export const RECORD_OBJECTS_MAX = 512;
/** Validators of one edge site (DESIGN §5: 1–7 gateways; room to spare) and accounts bound to it. */
export const SITE_VALIDATORS_MAX = 64;
export const SITE_ACCOUNTS_MAX = 1024;
export const HEARTBEAT_INTERVAL_S_MIN = 1;
export const HEARTBEAT_INTERVAL_S_MAX = 7 * 24 * 3600;

const bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const limit = bytes.nullable();
const accountNumber = z.number().int().min(1).max(ACCOUNT_NUMBER_MAX);
const time = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const text = (max: number) => z.string().min(1).max(max);
const objectId = z.string().regex(/^[A-Za-z0-9._:-]+$/).min(1).max(OBJECT_ID_CHARS_MAX);

const config = {
  monitoring: z.boolean().optional(),
  heartbeatIntervalS: z.number().int().min(HEARTBEAT_INTERVAL_S_MIN).max(HEARTBEAT_INTERVAL_S_MAX).optional(),
  primaryCluster: text(63).nullable().optional(),
  secondaryCluster: text(63).nullable().optional(),
  regions: z.array(text(32)).max(32).optional(),
};

export const accountCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('CreateAccount'),
    atMs: time,
    name: text(255),
    number: accountNumber.nullable(),
    softBytes: limit,
    hardBytes: limit,
    ...config,
  }),
  z.strictObject({ type: z.literal('SetAccountEnabled'), account: accountNumber, enabled: z.boolean() }),
  z.strictObject({ type: z.literal('SetAccountLimits'), account: accountNumber, softBytes: limit, hardBytes: limit, atMs: time }),
  z.strictObject({ type: z.literal('SetAccountConfig'), account: accountNumber, ...config }),
  z.strictObject({ type: z.literal('RenameAccount'), account: accountNumber, name: text(255) }),
  z.strictObject({ type: z.literal('DeleteAccount'), account: accountNumber, atMs: time }),
  z.strictObject({ type: z.literal('Housekeep'), account: accountNumber, atMs: time, aggressive: z.boolean(), reason: text(200) }),
  z.strictObject({ type: z.literal('RecomputeUsage'), account: accountNumber }),
  z.strictObject({ type: z.literal('RecordObject'), account: accountNumber, objectId, bytes, atMs: time, layout: z.string().min(2).max(OBJECT_LAYOUT_CHARS_MAX).optional() }),
  z.strictObject({
    type: z.literal('RecordObjects'),
    account: accountNumber,
    atMs: time,
    objects: z.array(z.strictObject({ objectId, bytes, layout: z.string().min(2).max(OBJECT_LAYOUT_CHARS_MAX).optional() })).min(1).max(RECORD_OBJECTS_MAX),
  }),
  z.strictObject({
    type: z.literal('MarkObject'),
    account: accountNumber,
    objectId,
    state: z.enum(['old', 'deleted']),
    atMs: time,
  }),
  z.strictObject({ type: z.literal('CreateGroup'), name: text(63), admin: text(255), softBytes: limit, hardBytes: limit, atMs: time }),
  z.strictObject({
    type: z.literal('SetGroup'),
    group: text(63),
    admin: text(255).optional(),
    softBytes: limit.optional(),
    hardBytes: limit.optional(),
    atMs: time,
  }),
  z.strictObject({ type: z.literal('DeleteGroup'), group: text(63) }),
  z.strictObject({ type: z.literal('AddMember'), group: text(63), account: accountNumber, atMs: time }),
  z.strictObject({ type: z.literal('RemoveMember'), group: text(63), account: accountNumber }),
  z.strictObject({
    type: z.literal('RegisterSite'),
    site: text(255),
    validators: z.array(z.strictObject({ id: text(255), publicKey: z.string().regex(/^[0-9a-f]{64}$/) })).min(1).max(SITE_VALIDATORS_MAX),
    accounts: z.array(text(255)).max(SITE_ACCOUNTS_MAX),
    atMs: time,
  }),
  z.strictObject({ type: z.literal('DeleteSite'), site: text(255) }),
]);

/** Checks an untrusted value; throws INVALID_COMMAND naming the first bad field. */
export function parseAccountCommand(value: unknown): AccountCommand {
  const parsed = accountCommandSchema.safeParse(value);
  if (parsed.success) return parsed.data as AccountCommand;
  const issue = parsed.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : 'command';
  throw new BaksaError('INVALID_COMMAND', `${field}: ${issue?.message ?? 'invalid'}`, {
    hint: 'send a command of a known type with every field of the right type',
    exitCode: ExitCode.usage,
    details: { field },
  });
}
