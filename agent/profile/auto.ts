/**
 * `--profile auto`: picks a built-in profile from the hardware (systeminformation: memory, CPU arch).
 * The choice itself is a pure function of (arch, memory) so it is testable.
 */
import { arch as osArch, totalmem } from 'node:os';

export interface Hardware {
  arch: string;
  memoryBytes: number;
}

const GiB = 1024 ** 3;

export function pickProfileName(hw: Hardware): 'small-arm' | 'mid-arm' | 'x86-edge' {
  const isArm = hw.arch === 'arm' || hw.arch === 'arm64' || hw.arch.startsWith('aarch') || hw.arch.startsWith('armv');
  if (isArm) return hw.memoryBytes <= 1 * GiB ? 'small-arm' : 'mid-arm';
  // An x86 box with very little memory is treated like a small gateway.
  if (hw.memoryBytes <= 1 * GiB) return 'small-arm';
  return 'x86-edge';
}

export async function detectHardware(): Promise<Hardware> {
  try {
    const si = await import('systeminformation');
    const [mem, os] = await Promise.all([si.mem(), si.osInfo()]);
    return { arch: os.arch || osArch(), memoryBytes: mem.total || totalmem() };
  } catch {
    return { arch: osArch(), memoryBytes: totalmem() };
  }
}

export async function detectProfileName(): Promise<string> {
  return pickProfileName(await detectHardware());
}
