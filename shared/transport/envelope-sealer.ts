/**
 * The production `FrameSealer` for MQTT: a frame travels as the body of a signed `Consensus` envelope
 * (shared/protocol), so the receiver learns the authenticated sender, and stale or replayed payloads
 * (a broker redelivering, an attacker re-publishing) are refused by the replay guard.
 */
import type { KeyObject } from 'node:crypto';
import { ProtocolError, ReplayGuard, openEnvelope, sealConsensusParts } from '../protocol/index.ts';
import type { FrameSealer } from './mqtt.ts';

export interface EnvelopeSealerOptions {
  self: string;
  privateKey: KeyObject;
  keyOf(node: string): Uint8Array | undefined;
  /** The clock, ms since the epoch (injected so tests control it). */
  now?: () => number;
  replay?: ReplayGuard;
  /** Called with every refused payload's error code, for counters and logs. */
  onRefused?: (code: string) => void;
}

export function envelopeSealer(options: EnvelopeSealerOptions): FrameSealer {
  const now = options.now ?? Date.now;
  const replay = options.replay ?? new ReplayGuard();
  return {
    seal(to, frame) {
      return sealConsensusParts({ from: options.self, to, ts: now() }, [frame], { privateKey: options.privateKey });
    },
    sealParts(to, parts) {
      return sealConsensusParts({ from: options.self, to, ts: now() }, parts, { privateKey: options.privateKey });
    },
    open(payload) {
      try {
        const { message } = openEnvelope(payload, { keyOf: options.keyOf, now: now(), replay });
        if (message.type !== 'Consensus') return undefined;
        return { from: message.from, to: message.to, frame: message.body as Uint8Array };
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        options.onRefused?.(error.code);
        return undefined;
      }
    },
  };
}
