/**
 * `promise`'s value, or `fallback` once `ms` passed without one. The timer holds the process open
 * while it runs (a shutdown that waits on it must not end with an await left unsettled) and is
 * cleared as soon as the promise settles.
 */
export async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
