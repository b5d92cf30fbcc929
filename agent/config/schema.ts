/**
 * The agent configuration (STATE/agent.json), checked against one typed schema at load; a wrong field is
 * refused with its name. Profile values (chunking, geometry, schedule…) come from the firmware profile;
 * the config may override the schedule and the heartbeat interval.
 */
import { array, bool, int, object, oneOf, optional, refine, str, type Infer } from '../profile/validate.ts';
import { backupModes } from '../profile/schema.ts';

export const CONFIG_FORMAT = 1;

/** An RFC 1034 host name: dot-separated labels of letters, digits and dashes, up to 255 characters. */
export const hostNamePattern = /^(?=.{1,255}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const brokerPattern = /^(mqtts?|wss?|tcp|tls):\/\/[^\s,]+$/;
/** Telemetry may name several brokers (a cluster's endpoints), tried in turn. */
const brokerListPattern = /^(mqtts?|wss?|tcp|tls):\/\/[^\s,]+(,(mqtts?|wss?|tcp|tls):\/\/[^\s,]+)*$/;
const topicPattern = /^[^\u0000]{1,1024}$/;

export const checkConfig = refine(
  object({
    format: int(CONFIG_FORMAT, CONFIG_FORMAT),
    /** The host's symbolic name (FQDN); also the tenant id the keys are derived for, unless `account` is set. */
    name: str(hostNamePattern, 'an RFC 1034 host name (lower case, up to 255 characters)'),
    account: optional(str(/^[^\s]{1,255}$/, 'an account name or hex number')),
    site: str(/^[A-Za-z0-9_-]{1,64}$/, 'a site name (letters, digits, "_" and "-")'),
    profile: str(/^.{1,4096}$/, 'a profile name or path'),
    sources: array(str(/^\/.{0,4095}$/, 'an absolute path or glob'), 1000),
    excludes: array(str(/^.{1,4096}$/, 'a glob'), 1000),
    /** Enter no mount point below a source (restic's and Borg's --one-file-system; sources/scan.ts). */
    oneFileSystem: optional(bool()),
    /** The key version new data is sealed with (scheduled rotation raises it: key-rotation.ts). */
    keyVersion: int(1, 0xffff_ffff),
    /** When `keyVersion` became current (ms since the epoch); absent, `createdMs`. */
    keyRotatedMs: optional(int(0)),
    /** Days between scheduled key rotations (DESIGN §8: default 90); 0 never rotates. */
    keyRotationDays: optional(int(0, 36_500)),
    nodePublicKey: str(/^[0-9a-f]{64}$/, '32 bytes of hex'),
    createdMs: int(0),
    mqtt: optional(
      object({
        broker: str(brokerPattern, 'a broker URL (mqtt://host:port)'),
        topics: array(str(topicPattern, 'an MQTT topic filter'), 1000),
        /** Where captured topics are written (absolute, or relative to the state directory). */
        captureDir: str(/^.{1,4096}$/, 'a directory'),
        rotateBytes: int(4096),
        rotateS: int(1),
      }),
    ),
    telemetry: object({
      enabled: bool(),
      /**
       * Broker for heartbeats and events; defaults to mqtt.broker. Several separated by commas (a
       * cluster's endpoints) are tried in turn (agent/telemetry/publisher.ts).
       */
      broker: optional(str(brokerListPattern, 'a broker URL (mqtt://host:port), or several separated by commas')),
      /** The data-center cluster whose monitor the agent registers with (dc/<cluster>/register). */
      cluster: optional(str(/^[A-Za-z0-9_.-]{1,64}$/, 'a cluster name')),
      /** The monitor's Ed25519 public key (hex): MonitorConfig replies signed by it are applied. */
      monitorPublicKey: optional(str(/^[0-9a-f]{64}$/, '32 bytes of hex')),
      /**
       * PKI directory (`2baksa pki`) with ca.crt and this gateway's certificate (named by the gateway),
       * presented to an mqtts broker. Absent, an edge member uses its cluster's tlsDir (the site broker
       * asks every client for a certificate).
       */
      tlsDir: optional(str(/^\/.{0,4095}$/, 'an absolute directory (the PKI directory with ca.crt and this gateway\'s certificate)')),
    }),
    schedule: optional(
      object({
        mode: optional(oneOf(backupModes)),
        cron: optional(str(/^\s*(\S+\s+){4,5}\S+\s*$/, 'a cron expression (5 or 6 fields)')),
        settleS: optional(int(0, 7 * 86_400)),
        scanIntervalS: optional(int(1, 86_400)),
        maxWaitS: optional(int(0, 30 * 86_400)),
      }),
    ),
    heartbeatIntervalS: optional(int(5, 86_400)),
    /**
     * The aggregator cluster the daemon migrates to by itself (DESIGN §6): every `intervalS` and after
     * each backup, inside the profile's migration window; an unreachable uplink is tried again later.
     */
    cloud: optional(
      object({
        // One node, or several of the cluster separated by commas: tried in turn (migrate/cloud-client.ts).
        server: str(/^https:\/\/[^\s,]+(,https:\/\/[^\s,]+)*$/, 'an aggregator node URL (https://HOST:PORT), or several separated by commas'),
        tlsDir: str(/^\/.{0,4095}$/, 'an absolute directory (the PKI directory with ca.crt and this agent\'s certificate)'),
        certName: str(hostNamePattern, 'the agent certificate\'s name (the account)'),
        intervalS: optional(int(10, 7 * 86_400)),
      }),
    ),
    /**
     * Edge cluster mode (agent/edge): the gateways of this site that keep each other's shards, this one
     * included, and the site broker they meet on. Without it the gateway keeps its shards alone.
     */
    cluster: optional(
      object({
        members: array(str(hostNamePattern, 'an RFC 1034 host name (a member gateway\'s --name)'), 64),
        /**
         * This gateway joins a running cluster as a storage member (shared/ledger/members.ts): `members`
         * are the cluster's first members (its validators), without this one, and a member admits it with
         * `2baksa cluster admit NAME --key HEX`.
         */
        join: optional(bool()),
        broker: str(brokerPattern, 'a broker URL (mqtt://host:port or mqtts://host:port)'),
        /** PKI directory (`2baksa pki`) with ca.crt and this gateway's certificate, for mqtts. */
        tlsDir: optional(str(/^\/.{0,4095}$/, 'an absolute directory')),
        /** A member offline this long (s) is gone: the daemon rebuilds this gateway's shards it held onto the others. */
        repairAfterS: optional(int(60, 365 * 86_400)),
      }),
    ),
    storage: optional(
      object({
        /** Free space the shard volume keeps; a backup that would eat into it stops with DISK_FULL. */
        reserveBytes: int(0),
      }),
    ),
  }),
  (c) =>
    c.sources.length === 0 && !c.mqtt
      ? ['sources', 'at least one source (or an MQTT capture) is needed']
      : c.cluster && !c.cluster.join && !c.cluster.members.includes(c.name)
        ? ['cluster.members', `the member list must include this gateway (${c.name})`]
        : c.cluster?.join && c.cluster.members.includes(c.name)
          ? ['cluster.members', `a gateway that joins (cluster.join) lists the cluster's first members only, not itself (${c.name})`]
        : c.cluster && new Set(c.cluster.members).size !== c.cluster.members.length
          ? ['cluster.members', 'a member is listed twice']
          : undefined,
);

export type AgentConfig = Infer<typeof checkConfig>;
export type MqttCaptureConfig = NonNullable<AgentConfig['mqtt']>;
