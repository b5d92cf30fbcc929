// Deterministic test inputs for the chunking tests. The golden test pins boundaries of these exact
// bytes, so never change these generators (add new ones instead).

/** `length` pseudo-random bytes from xorshift32 seeded with `seed` (nonzero). */
export function xorshiftBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 1;
  let i = 0;
  while (i < length) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    for (let k = 0; k < 4 && i < length; k++, i++) out[i] = (x >>> (8 * k)) & 0xff;
  }
  return out;
}

/** Sensor-log-like text lines ("2024-... gw-07 temp=21.37 hum=40.12 seq=123\n"), deterministic. */
export function logLines(length: number, seed: number): Uint8Array {
  const noise = xorshiftBytes(Math.ceil(length / 8) + 64, seed);
  const out = new Uint8Array(length);
  const encoder = new TextEncoder();
  let at = 0;
  let n = 0;
  let seq = 0;
  while (at < length) {
    const a = noise[n++ % noise.length]!;
    const b = noise[n++ % noise.length]!;
    const c = noise[n++ % noise.length]!;
    const second = String(seq % 60).padStart(2, '0');
    const minute = String(Math.floor(seq / 60) % 60).padStart(2, '0');
    const line =
      `2024-05-01T12:${minute}:${second}.${String(a * 3).padStart(3, '0')}Z gw-${String(a % 16).padStart(2, '0')} ` +
      `temp=${(15 + b / 20).toFixed(2)} hum=${(30 + c / 8).toFixed(2)} seq=${seq}\n`;
    const bytes = encoder.encode(line);
    const take = Math.min(bytes.length, length - at);
    out.set(bytes.subarray(0, take), at);
    at += take;
    seq++;
  }
  return out;
}

/** Splits `data` at the given cut ends (as returned by cutPoints) into views. */
export function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  let start = 0;
  return cuts.map((end) => {
    const part = data.subarray(start, end);
    start = end;
    return part;
  });
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
