type Scheduler = (callback: () => void) => unknown;

// setImmediate where it exists (Node), else a zero timeout (browsers): both let pending
// timers, I/O and abort events run, unlike a resolved promise.
const schedule: Scheduler =
  (globalThis as { setImmediate?: Scheduler }).setImmediate ?? ((callback: () => void) => globalThis.setTimeout(callback, 0));

/** Resolves on a later turn of the event loop. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    schedule(resolve);
  });
}
