/** Host metrics from systeminformation (CPU load, memory, the state directory's disk, temperature). */
import { hostMetricsOf } from './heartbeat.ts';
import type { HostMetrics } from './messages.ts';

export async function collectHostMetrics(path: string): Promise<HostMetrics> {
  try {
    const si = await import('systeminformation');
    const [load, mem, disks, temp] = await Promise.all([
      si.currentLoad().catch(() => undefined),
      si.mem().catch(() => undefined),
      si.fsSize().catch(() => []),
      si.cpuTemperature().catch(() => undefined),
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
