// The agent configuration (STATE/agent.json), the state directory layout, keys and FQDN proposal.
export { checkConfig, CONFIG_FORMAT, hostNamePattern } from './schema.ts';
export type { AgentConfig, MqttCaptureConfig } from './schema.ts';
export { statePaths } from './state-dir.ts';
export type { StatePaths } from './state-dir.ts';
export { readConfig, writeConfig, effectiveProfile, loadKeyRing, loadState, gatewayCertificate, telemetryCertificate, tenantOf } from './load.ts';
export type { AgentState } from './load.ts';
export { DEFAULT_KEY_ROTATION_DAYS, keepKeyCurrent, keyRotationDueMs, rotateKey } from './key-rotation.ts';
export type { KeyRotation } from './key-rotation.ts';
export { proposeFqdn, normalizeHostName } from './fqdn.ts';
export { initAgent, defaultCapture } from './init.ts';
export type { InitOptions } from './init.ts';
