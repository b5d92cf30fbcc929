/** JSON Schema pieces shared by the route table (fastify validates with them; OpenAPI documents them). */
import type { JsonSchema } from './route.ts';

export const bytesOrNull: JsonSchema = { anyOf: [{ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, { type: 'null' }], description: 'bytes; null is no limit' };
export const accountRef: JsonSchema = { type: 'string', minLength: 1, maxLength: 255, description: 'account number (0x1a or 1a) or symbolic name' };
export const groupName: JsonSchema = { type: 'string', minLength: 1, maxLength: 63 };
export const accountNumberInput: JsonSchema = {
  anyOf: [
    { type: 'integer', minimum: 1, maximum: 0xffff_ffff },
    { type: 'string', pattern: '^(0x)?[0-9a-fA-F]{1,8}$' },
    { type: 'null' },
  ],
  description: 'explicit account number (integer or hex string); absent or null picks the next one',
};

export const accountParams: JsonSchema = { type: 'object', properties: { account: accountRef }, required: ['account'], additionalProperties: false };
export const groupParams: JsonSchema = { type: 'object', properties: { group: groupName }, required: ['group'], additionalProperties: false };
export const memberParams: JsonSchema = {
  type: 'object',
  properties: { group: groupName, account: accountRef },
  required: ['group', 'account'],
  additionalProperties: false,
};

const configProps: Record<string, JsonSchema> = {
  monitoring: { type: 'boolean' },
  heartbeatIntervalS: { type: 'integer', minimum: 1, maximum: 7 * 24 * 3600 },
  primaryCluster: { anyOf: [{ type: 'string', minLength: 1, maxLength: 63 }, { type: 'null' }] },
  secondaryCluster: { anyOf: [{ type: 'string', minLength: 1, maxLength: 63 }, { type: 'null' }] },
  regions: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 32 }, maxItems: 32 },
};

export const createAccountBody: JsonSchema = {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 255 }, number: accountNumberInput, softBytes: bytesOrNull, hardBytes: bytesOrNull, ...configProps },
  required: ['name'],
  additionalProperties: false,
};
export const configBody: JsonSchema = { type: 'object', properties: configProps, additionalProperties: false, minProperties: 1 };
export const limitsBody: JsonSchema = {
  type: 'object',
  properties: { softBytes: bytesOrNull, hardBytes: bytesOrNull },
  required: ['softBytes', 'hardBytes'],
  additionalProperties: false,
};
export const enabledBody: JsonSchema = { type: 'object', properties: { enabled: { type: 'boolean' } }, required: ['enabled'], additionalProperties: false };
export const nameBody: JsonSchema = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 255 } }, required: ['name'], additionalProperties: false };
export const housekeepBody: JsonSchema = { type: 'object', properties: { aggressive: { type: 'boolean' } }, additionalProperties: false };
export const checkBody: JsonSchema = { type: 'object', properties: { fix: { type: 'boolean' } }, additionalProperties: false };
export const createGroupBody: JsonSchema = {
  type: 'object',
  properties: { name: groupName, admin: { type: 'string', minLength: 1, maxLength: 255 }, softBytes: bytesOrNull, hardBytes: bytesOrNull },
  required: ['name', 'admin'],
  additionalProperties: false,
};
export const groupPatchBody: JsonSchema = {
  type: 'object',
  properties: { admin: { type: 'string', minLength: 1, maxLength: 255 }, softBytes: bytesOrNull, hardBytes: bytesOrNull },
  additionalProperties: false,
  minProperties: 1,
};

export const accountView: JsonSchema = {
  type: 'object',
  properties: {
    number: { type: 'integer' },
    numberHex: { type: 'string' },
    name: { type: 'string' },
    enabled: { type: 'boolean' },
    softBytes: bytesOrNull,
    hardBytes: bytesOrNull,
    monitoring: { type: 'boolean' },
    heartbeatIntervalS: { type: 'integer' },
    primaryCluster: { type: ['string', 'null'] },
    secondaryCluster: { type: ['string', 'null'] },
    regions: { type: 'array', items: { type: 'string' } },
    createdMs: { type: 'integer' },
    usedBytes: { type: 'integer' },
    objectCount: { type: 'integer' },
    storeMarker: { type: 'integer' },
  },
};
export const groupView: JsonSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    admin: { type: 'string' },
    softBytes: bytesOrNull,
    hardBytes: bytesOrNull,
    memberCount: { type: 'integer' },
    usedBytes: { type: 'integer' },
    objectCount: { type: 'integer' },
    members: { type: 'array', items: { type: 'object', properties: { number: { type: 'integer' }, name: { type: 'string' } } } },
  },
};
