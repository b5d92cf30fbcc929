/**
 * Alerts go to the administrator and every group administrator of the account (Box Backup 2, 3), by
 * three routes: the notify hook, the MQTT alert topic and the log.
 *
 * The notify hook is an executable in the spirit of Box Backup's NotifySysAdmin.sh, run (execFile, no
 * shell) as
 *
 *     HOOK EVENT ACCOUNT_NAME ACCOUNT_NUMBER ALERT_ID RECIPIENT...
 *
 * e.g. `notify.sh silent gw-07.site-a.example 0x0000001a 3f9c… root@dc.example ops-a@example.org`,
 * with the whole alert as JSON in the environment variable BAKSA_ALERT. EVENT is one of silent,
 * recovered, error, soft-limit, hard-limit. A hook gets `hookTimeoutMs` and is then killed; at most
 * `hookConcurrencyMax` run at once and at most `hookQueueMax` wait (beyond that an alert is logged
 * and counted as dropped by the hook route; the other routes still carry it).
 *
 * One alert per event: see alert-id.ts. Every node records the alert in its `alerts` table (the id is
 * the primary key, so a repeat is ignored); only the owner sends it.
 */
import { execFile } from 'node:child_process';
import type { Database } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/log.ts';
import { formatAccountNumber } from '../accounts/names.ts';
import { alertIdOf, alertOwner, type AlertEvent } from './alert-id.ts';

export interface Alert {
  alertId: string;
  event: AlertEvent;
  account: number;
  accountName: string;
  /** The deterministic time of the event (a deadline, or the signed timestamp of a message). */
  atMs: number;
  recipients: string[];
  detail: string;
  site: string | undefined;
  /** This node is the owner and sent it. */
  sent: boolean;
  owner: string | undefined;
}

export interface AlertRequest {
  event: AlertEvent;
  account: number;
  accountName: string;
  atMs: number;
  detail: string;
  site?: string;
  /** Extra recipients (a group administrator of a group whose quota was crossed). */
  recipients?: string[];
}

export interface NotifyOptions {
  nodeId: string;
  /** The live aggregator nodes (this one included); the owner of an alert is chosen among them. */
  liveNodes: () => readonly string[];
  /** The backup administrator, told about every alert. */
  adminContact: string;
  hookPath: string | undefined;
  hookTimeoutMs: number;
  hookConcurrencyMax: number;
  hookQueueMax: number;
  /** Publishes an alert on the MQTT alert topic (the shell wires it; absent in pure tests). */
  publish: ((alert: Alert) => Promise<void>) | undefined;
  logger: Logger;
  onAlert?: (alert: Alert) => void;
}

export const defaultNotifyOptions = {
  hookTimeoutMs: 10_000,
  hookConcurrencyMax: 4,
  hookQueueMax: 1_000,
} as const;

/** The administrator first, then every group administrator of the account, without repeats. */
export async function recipientsOf(db: Database, account: number, adminContact: string, extra: readonly string[] = []): Promise<string[]> {
  const rows = await db.all<{ admin: string }>(
    'SELECT DISTINCT g.admin FROM groups g JOIN group_members m ON m.group_name = g.name WHERE m.account = ? ORDER BY g.name',
    [account],
  );
  return [...new Set([adminContact, ...rows.map((r) => r.admin), ...extra])];
}

/** Group administrators of many accounts in one query (in group-name order per account). */
export async function groupAdminsOf(db: Database, accounts: readonly number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (let i = 0; i < accounts.length; i += 500) {
    const slice = accounts.slice(i, i + 500);
    const rows = await db.all<{ account: number; admin: string }>(
      `SELECT m.account, g.admin FROM group_members m JOIN groups g ON g.name = m.group_name
        WHERE m.account IN (${slice.map(() => '?').join(',')}) ORDER BY m.account, g.name`,
      slice,
    );
    for (const r of rows) {
      const list = out.get(r.account) ?? [];
      if (!list.includes(r.admin)) list.push(r.admin);
      out.set(r.account, list);
    }
  }
  return out;
}

export class AlertDispatcher {
  private running = 0;
  private readonly queue: Alert[] = [];
  private idleWaiters: (() => void)[] = [];
  droppedHooks = 0;
  hookFailures = 0;

  constructor(
    private readonly db: Database,
    readonly options: NotifyOptions,
  ) {}

  /** Records the alert and, on its owner, sends it by every route. Returns undefined for a repeat. */
  async raise(req: AlertRequest): Promise<Alert | undefined> {
    return (await this.raiseMany([req]))[0];
  }

  /**
   * Records a batch of alerts in one transaction (a burst of silent gateways costs one commit, not one
   * per alert), then sends the ones this node owns. Repeats come back as undefined.
   */
  async raiseMany(requests: readonly AlertRequest[]): Promise<(Alert | undefined)[]> {
    const alerts: Alert[] = [];
    const groupAdmins = await groupAdminsOf(this.db, [...new Set(requests.map((r) => r.account))]);
    for (const req of requests) {
      const alertId = alertIdOf(req.account, req.event, req.atMs);
      const recipients = [...new Set([this.options.adminContact, ...(groupAdmins.get(req.account) ?? []), ...(req.recipients ?? [])])];
      const owner = alertOwner(alertId, this.options.liveNodes());
      const sent = owner === undefined || owner === this.options.nodeId;
      alerts.push({ alertId, ...req, site: req.site, recipients, sent, owner });
    }
    const fresh = await this.db.transaction(async (db) => {
      const out: boolean[] = [];
      for (const a of alerts) {
        const r = await db.run(
          `INSERT OR IGNORE INTO alerts(id, account, event, at_ms, deadline_ms, recipients, details, sent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [a.alertId, a.account, a.event, a.atMs, a.event === 'silent' ? a.atMs : null, JSON.stringify(a.recipients), a.detail, a.sent ? 1 : 0],
        );
        out.push(r.changes > 0);
      }
      return out;
    });
    return alerts.map((alert, i) => {
      if (!fresh[i]) return undefined;
      if (alert.sent) this.send(alert);
      else this.options.logger.debug({ alertId: alert.alertId, owner: alert.owner }, 'alert recorded; another node owns it');
      return alert;
    });
  }

  private send(alert: Alert): void {
    this.options.logger.warn(
      { alertId: alert.alertId, event: alert.event, account: alert.accountName, number: formatAccountNumber(alert.account), recipients: alert.recipients, detail: alert.detail },
      `alert: ${alert.event} ${alert.accountName}`,
    );
    this.options.onAlert?.(alert);
    if (this.options.publish) {
      this.track(this.options.publish(alert).catch((err: unknown) => this.options.logger.error({ err, alertId: alert.alertId }, 'alert: MQTT publish failed')));
    }
    this.enqueueHook(alert);
  }

  private readonly publishing = new Set<Promise<unknown>>();

  private track(p: Promise<unknown>): void {
    this.publishing.add(p);
    void p.finally(() => this.publishing.delete(p));
  }

  private enqueueHook(alert: Alert): void {
    if (!this.options.hookPath) return;
    if (this.queue.length >= this.options.hookQueueMax) {
      this.droppedHooks++;
      this.options.logger.error({ alertId: alert.alertId }, 'alert: notify hook queue full, hook not run for this alert');
      return;
    }
    this.queue.push(alert);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.options.hookConcurrencyMax && this.queue.length > 0) {
      const alert = this.queue.shift()!;
      this.running++;
      void this.runHook(alert).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  private runHook(alert: Alert): Promise<void> {
    const hook = this.options.hookPath!;
    const args = [alert.event, alert.accountName, formatAccountNumber(alert.account), alert.alertId, ...alert.recipients];
    return new Promise((resolve) => {
      execFile(
        hook,
        args,
        {
          timeout: this.options.hookTimeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: 64 * 1024,
          env: { ...process.env, BAKSA_ALERT: JSON.stringify(alert) },
        },
        (err, _stdout, stderr) => {
          if (err) {
            this.hookFailures++;
            this.options.logger.error({ err: err.message, hook, alertId: alert.alertId, stderr: String(stderr).slice(0, 500) }, 'alert: notify hook failed');
          }
          resolve();
        },
      );
    });
  }

  /** Resolves once no hook is running or waiting and every MQTT publish has finished. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.publishing]);
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
