/** Prometheus metrics of the monitor (registered on the registry the node's /metrics serves). */
import { Counter, Gauge, Registry } from 'prom-client';

export interface MonitorMetrics {
  heartbeatsReceived: Counter<string>;
  messagesRejected: Counter<'reason'>;
  alertsRaised: Counter<'event'>;
  accountsTracked: Gauge<string>;
}

const cache = new WeakMap<Registry, MonitorMetrics>();

/** The monitor's metrics on `registry` (created once per registry). */
export function monitorMetrics(registry: Registry): MonitorMetrics {
  let m = cache.get(registry);
  if (!m) {
    m = {
      heartbeatsReceived: new Counter({ name: 'baksa_heartbeats_received_total', help: 'Heartbeats accepted by the monitor', registers: [registry] }),
      messagesRejected: new Counter({
        name: 'baksa_telemetry_rejected_total',
        help: 'Telemetry messages dropped, by reason',
        labelNames: ['reason'],
        registers: [registry],
      }),
      alertsRaised: new Counter({ name: 'baksa_alerts_raised_total', help: 'Alerts raised (sent by this node), by event', labelNames: ['event'], registers: [registry] }),
      accountsTracked: new Gauge({ name: 'baksa_monitor_accounts_tracked', help: 'Accounts the heartbeat tracker knows', registers: [registry] }),
    };
    cache.set(registry, m);
  }
  return m;
}
