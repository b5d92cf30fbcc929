/**
 * shared/placement: where shards go and who coordinates. Weighted rendezvous hashing over members,
 * failure-domain-aware placement with data residency, re-placement of one shard, the edge geometry table
 * and the coordinator takeover order. Pure functions, no I/O.
 */
export { PlacementErrorCode, placementImpossible, residencyViolation } from './errors.ts';
export { domainOf, toMember, toMembers, type Member, type MemberLike } from './member.ts';
export { pairWords, score, unit, type Key } from './hash.ts';
export { RANK_TAG, rank } from './rendezvous.ts';
export { SHARDS_PER_CHUNK_MAX, place, replaceShard, type PlaceOptions, type Placement } from './place.ts';
export { checkResidency, eligibleMembers } from './residency.ts';
export { checkGeometry, edgeGeometry, type Geometry } from './geometry.ts';
export { COORDINATOR_TAG, coordinatorOf, coordinatorOrder } from './coordinator.ts';
