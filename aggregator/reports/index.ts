/**
 * aggregator/reports: space reports (cluster, node, volume, group, account), the heartbeat board,
 * and the Nagios checks built on them (Box Backup 4 and 6).
 */
export * from './space.ts';
export { boardState, defaultBoardOptions, heartbeatBoard, type BoardInput, type BoardOptions, type BoardRow, type BoardState } from './heartbeats.ts';
export { NagiosState, breaches, exitCodeOf, formatPerf, parseRange, stateOf, statusLine, worst, type NagiosRange, type NagiosResult, type NagiosStateName, type PerfItem } from './nagios.ts';
export { certificateCheck, clusterCheck, heartbeatCheck, ledgerCheck, spaceCheck, unknownResult, type ClusterCheckInput, type LedgerCheckInput, type SpaceCheckInput, type Thresholds } from './checks.ts';
