/**
 * The end of a long-running command: the first SIGTERM or SIGINT. Ask for it before starting anything.
 * Node applies a signal's default action (the process dies where it stands) while nobody listens for
 * it, so a supervisor's SIGTERM that arrives during start-up, or right after the command said "ready",
 * would otherwise skip the clean stop: no flushed state, no Deregister, exit by signal instead of 0.
 * A second signal is not waited on: it ends the process at once, by that signal, for a start-up or a
 * shutdown that hangs (the second Ctrl-C of a person at a terminal). Once the command says its clean
 * stop ran to its end (`stopped`), a later signal ends the process at once with the exit code it has
 * (0 unless something set another): nothing is left to abandon, and dying by the signal would report
 * a clean stop as a killed one (a parent forwarding a terminal's Ctrl-C late, on a loaded machine).
 */
export interface StopSignal {
  /** Resolves with the signal that asked the command to stop. */
  readonly requested: Promise<NodeJS.Signals>;
  /** Stops listening (the command failed to start and ends anyway). */
  dispose(): void;
  /** The clean stop ran to its end: from now on a signal ends the process with its exit code, not by the signal. */
  stopped(): void;
}

export interface StopOptions {
  signals?: readonly NodeJS.Signals[];
  /**
   * The first signal again within this many ms is the same request, not a second one. A process its
   * parent restarted (agent/daemon/runtime.ts) gets a terminal's Ctrl-C twice: from the terminal, as
   * one of its foreground process group, and forwarded by the parent a moment later.
   */
  sameSignalMs?: number;
}

export function listenForStop(options: StopOptions = {}): StopSignal {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let asked: { signal: NodeJS.Signals; atMs: number } | undefined;
  let done = false;
  let resolveRequested: (signal: NodeJS.Signals) => void = () => {};
  const requested = new Promise<NodeJS.Signals>((resolve) => (resolveRequested = resolve));
  const handler = (signal: NodeJS.Signals) => {
    if (done) process.exit();
    if (asked === undefined) {
      asked = { signal, atMs: Date.now() };
      resolveRequested(signal);
      return;
    }
    if (signal === asked.signal && Date.now() - asked.atMs < (options.sameSignalMs ?? 0)) return;
    dispose();
    process.kill(process.pid, signal);
  };
  const dispose = () => {
    for (const s of signals) process.off(s, handler);
  };
  for (const s of signals) process.on(s, handler);
  return { requested, dispose, stopped: () => void (done = true) };
}
