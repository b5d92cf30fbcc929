/**
 * Errors on the REST API: every failure is `{error: {code, message, hint?, field?, details?}}` with an
 * HTTP status chosen from the stable code. Bad bodies are 400 naming the field; RBAC refusals 403.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BaksaError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';

const STATUS: Record<string, number> = {
  BAD_REQUEST: 400,
  INVALID_ARGUMENT: 400,
  INVALID_COMMAND: 400,
  LIMITS_INVALID: 400,
  CONFIG_INVALID: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  ACCOUNT_DISABLED: 403,
  ACCOUNT_NOT_FOUND: 404,
  GROUP_NOT_FOUND: 404,
  OBJECT_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  CHUNK_NOT_FOUND: 404,
  NOT_A_CLUSTER_NODE: 404,
  NOT_MEMBER: 404,
  BLOCK_NOT_FOUND: 404,
  NOT_FOUND: 404,
  ACCOUNT_EXISTS: 409,
  ACCOUNT_NUMBER_TAKEN: 409,
  ACCOUNT_NUMBERS_EXHAUSTED: 409,
  GROUP_EXISTS: 409,
  ALREADY_MEMBER: 409,
  OBJECT_EXISTS: 409,
  CHUNKS_MISSING: 409,
  CHUNK_HASH_MISMATCH: 400,
  EDGE_PROOF_INVALID: 422,
  EDGE_PROOF_MISMATCH: 422,
  EDGE_PROOF_MISSING: 409,
  RECEIPT_REFUSED: 409,
  EDGE_SITE_UNKNOWN: 409,
  SITE_NOT_FOUND: 404,
  SITE_ACCOUNT_TAKEN: 409,
  CONFIRMATION_REQUIRED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  QUOTA_EXCEEDED: 507,
  RESIDENCY_VIOLATION: 409,
  LEDGER_UNAVAILABLE: 503,
  COMMIT_TIMEOUT: 503,
};

export function statusOf(code: string): number {
  return STATUS[code] ?? 500;
}

export function apiError(code: string, message: string, hint?: string, details?: Record<string, unknown>): BaksaError {
  return new BaksaError(code, message, { ...(hint ? { hint } : {}), ...(details ? { details } : {}) });
}

export function forbidden(message: string): BaksaError {
  return apiError('FORBIDDEN', message, 'use a certificate whose role may do this');
}

interface ValidationItem {
  instancePath?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
  message?: string;
}

/** The field a fastify (ajv) validation error is about: `name`, `softBytes`, `limit`, … */
function fieldOf(error: FastifyError & { validation?: ValidationItem[]; validationContext?: string }): string {
  const v = error.validation?.[0];
  const path = (v?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const extra = v?.params?.missingProperty ?? v?.params?.additionalProperty;
  return [path, extra].filter((x) => x !== undefined && x !== '').join('.') || (error.validationContext ?? 'body');
}

export function errorHandler(logger: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const e = error as FastifyError & { validation?: ValidationItem[]; validationContext?: string };
    if (e.validation) {
      const field = fieldOf(e);
      void reply.status(400).send({
        error: { code: 'BAD_REQUEST', message: `${e.validationContext ?? 'body'} field "${field}": ${e.validation[0]?.message ?? 'is invalid'}`, field },
      });
      return;
    }
    if (error instanceof BaksaError) {
      const status = statusOf(error.code);
      const field = typeof error.details?.field === 'string' ? error.details.field : undefined;
      void reply.status(status).send({
        error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}), ...(field ? { field } : {}), ...(error.details ? { details: error.details } : {}) },
      });
      return;
    }
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      const code = e.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : e.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST';
      void reply.status(e.statusCode).send({ error: { code, message: e.message } });
      return;
    }
    logger.error({ err: error, url: request.url }, 'api: internal error');
    void reply.status(500).send({ error: { code: 'INTERNAL', message: 'internal error (a bug; the node log has the details)' } });
  };
}
