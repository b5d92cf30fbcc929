/** Polling for integration tests: wait until a condition holds, or fail saying what did not happen. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `cond` every `intervalMs` until it is true; past `timeoutMs` throws "timed out waiting for
 * WHAT", followed by `detail()` (the state that explains it: a board, a process's output).
 */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  detail: () => string = () => '',
  intervalMs = 50,
): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) {
      const more = detail();
      throw new Error(`timed out waiting for ${what}${more ? `\n${more}` : ''}`);
    }
    await sleep(intervalMs);
  }
}
