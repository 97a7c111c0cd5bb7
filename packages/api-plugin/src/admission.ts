import { CancelledError, OverloadedError } from '@lab/core';

export interface AdmissionStats {
  readonly running: number;
  readonly queued: number;
  readonly concurrency: number;
  readonly maxQueue: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * Admits at most `concurrency` jobs at once and holds at most `maxQueue` more. `enter` throws
 * OverloadedError synchronously when the queue is full, so a server can answer 429 before
 * starting a response; a queued waiter whose signal aborts leaves the queue.
 */
export class AdmissionQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private idleWaiters: Array<() => void> = [];
  private durationsMs: number[] = [];

  constructor(
    readonly concurrency: number,
    readonly maxQueue: number,
  ) {
    if (!(concurrency >= 1) || !(maxQueue >= 0)) throw new RangeError('concurrency must be ≥ 1 and maxQueue ≥ 0');
  }

  /** Reserves a slot: resolves when the job may start. Throws OverloadedError (synchronously) when full. */
  enter(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new CancelledError('Cancelled before it started'));
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.maxQueue) {
      throw new OverloadedError(`The queue is full (${this.running} running, ${this.waiting.length} waiting)`, this.retryAfterSeconds());
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new CancelledError('Cancelled while queued'));
          this.notifyIdle();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Frees a slot taken by `enter` and records how long the job ran (for Retry-After). */
  leave(durationMs?: number): void {
    if (durationMs !== undefined) this.durationsMs = [...this.durationsMs.slice(-19), durationMs];
    const next = this.waiting.shift();
    if (next) {
      next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve();
    } else {
      this.running--;
      this.notifyIdle();
    }
  }

  /**
   * Runs `work` inside a slot, timing it for Retry-After. Like `enter`, throws OverloadedError
   * synchronously when the queue is full (executors rely on that to answer 429 at once).
   */
  run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const admitted = this.enter(signal);
    return (async () => {
      await admitted;
      const start = performance.now();
      try {
        return await work();
      } finally {
        this.leave(performance.now() - start);
      }
    })();
  }

  stats(): AdmissionStats {
    return { running: this.running, queued: this.waiting.length, concurrency: this.concurrency, maxQueue: this.maxQueue };
  }

  /** Resolves once nothing runs or waits. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Seconds until a slot is likely free: mean job time × queue depth per slot, at least 1. */
  retryAfterSeconds(): number {
    const mean = this.durationsMs.length ? this.durationsMs.reduce((a, b) => a + b, 0) / this.durationsMs.length : 1000;
    return Math.max(1, Math.ceil((mean * (1 + this.waiting.length / this.concurrency)) / 1000));
  }

  private notifyIdle(): void {
    if (this.running === 0 && this.waiting.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
