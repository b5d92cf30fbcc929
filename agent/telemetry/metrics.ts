/** Host metrics from systeminformation (CPU load, memory, the state directory's disk, temperature). */
import { hostMetricsOf } from './heartbeat.ts';
import type { HostMetrics } from './messages.ts';

/** How long a heartbeat waits for each host reading; a reading still running is left out of this heartbeat. */
export const HOST_METRIC_WAIT_MS = 1_000;

/** `p`, or `fallback` once `ms` passed (a stuck `df` on a dead mount must never hold a heartbeat back). */
function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
    timer.unref();
  });
  return Promise.race([p.catch(() => fallback), timeout]).finally(() => clearTimeout(timer));
}

export async function collectHostMetrics(path: string, waitMs = HOST_METRIC_WAIT_MS): Promise<HostMetrics> {
  try {
    const si = await import('systeminformation');
    const [load, mem, disks, temp] = await Promise.all([
      within(si.currentLoad(), waitMs, undefined),
      within(si.mem(), waitMs, undefined),
      within(si.fsSize(), waitMs, []),
      within(si.cpuTemperature(), waitMs, undefined),
    ]);
    // The file system holding the state directory: the longest mount point that prefixes it.
    const disk = disks
      .filter((d) => path === d.mount || path.startsWith(d.mount.endsWith('/') ? d.mount : `${d.mount}/`))
      .sort((a, b) => b.mount.length - a.mount.length)[0];
    return hostMetricsOf({
      cpuLoadPercent: load?.currentLoad,
      memUsedBytes: mem ? mem.active : undefined,
      memTotalBytes: mem?.total,
      diskUsedBytes: disk?.used,
      diskTotalBytes: disk?.size,
      temperatureC: temp?.main ?? null,
    });
  } catch {
    return {};
  }
}
