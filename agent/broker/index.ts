/**
 * agent/broker: the embedded MQTT site broker (DESIGN §4, §8), aedes behind a socket guard.
 *
 * - site-broker.ts        startSiteBroker: listener (mqtts or plain), aedes hooks, stats, close
 * - options.ts            SiteBrokerOptions, defaults, validation
 * - authenticate.ts       who a client is (certificate, or node id + shared secret), client id rule
 * - authorize.ts          what a principal may publish/subscribe: one pure function
 * - guarded-connection.ts the Duplex between socket and aedes: size caps, slow-consumer cut-off
 * - header-scanner.ts     pure MQTT fixed-header scanner the guard uses
 */
export { startSiteBroker, type SiteBroker, type SiteBrokerStats } from './site-broker.ts';
export { MQTTS_PORT, MQTT_PORT, defaultSiteBrokerOptions, resolveSiteBrokerOptions, type SiteBrokerInput, type SiteBrokerOptions } from './options.ts';
export { ConnackCode, authenticateClient, clientIdAllowed, type Authentication, type AuthenticationPolicy, type ConnectAttempt } from './authenticate.ts';
export { authorize, type Action, type Decision, type Principal } from './authorize.ts';
export { GuardedConnection, type GuardLimits, type GuardRefusal, type GuardRefusalReason } from './guarded-connection.ts';
export { FixedHeaderScanner, PacketType, firstByteProblem, type ScanRefusal, type ScanRefusalReason } from './header-scanner.ts';
