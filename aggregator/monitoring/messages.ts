// The telemetry messages moved to shared/protocol/telemetry.ts, where the agent imports them too.
export * from '../../shared/protocol/telemetry.ts';
