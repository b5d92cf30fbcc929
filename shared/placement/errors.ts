/**
 * Operating errors of placement: each has a stable code and a sentence that says what to do. Raised when
 * the members on offer cannot hold a chunk's shards under the rules (distinct members, data residency,
 * failure-domain spread when the caller requires it).
 */
import { BaksaError, ExitCode } from '../errors.ts';

export const PlacementErrorCode = {
  residencyViolation: 'RESIDENCY_VIOLATION',
  placementImpossible: 'PLACEMENT_IMPOSSIBLE',
} as const;

export function residencyViolation(message: string, details: Record<string, unknown>): BaksaError {
  return new BaksaError(PlacementErrorCode.residencyViolation, message, {
    hint: 'add members in a region the account allows, or widen the account\'s allowed regions',
    exitCode: ExitCode.unavailable,
    details,
  });
}

export function placementImpossible(message: string, details: Record<string, unknown>): BaksaError {
  return new BaksaError(PlacementErrorCode.placementImpossible, message, {
    hint: 'add members (or failure domains), or choose a geometry with fewer shards',
    exitCode: ExitCode.unavailable,
    details,
  });
}
