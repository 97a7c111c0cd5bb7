import { CancelledError, OverloadedError } from '@lab/core';
import { describe, expect, it } from 'vitest';
import { AdmissionQueue } from '../src/index.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('AdmissionQueue', () => {
  it('runs at most `concurrency` jobs and rejects synchronously once the queue is full', async () => {
    const q = new AdmissionQueue(2, 1);
    let active = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const job = () =>
      q.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise<void>((r) => release.push(r));
        active--;
      });
    const running = [job(), job(), job()];
    expect(q.stats()).toMatchObject({ running: 2, queued: 1 });
    expect(() => q.enter()).toThrow(OverloadedError);
    await tick();
    while (release.length) {
      release.shift()?.();
      await tick();
    }
    await Promise.all(running);
    expect(peak).toBe(2);
    expect(q.stats()).toMatchObject({ running: 0, queued: 0 });
    await q.idle();
  });

  it('drops a queued waiter when its signal aborts', async () => {
    const q = new AdmissionQueue(1, 2);
    await q.enter();
    const controller = new AbortController();
    const waiting = q.enter(controller.signal);
    expect(q.stats().queued).toBe(1);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    expect(q.stats().queued).toBe(0);
    q.leave();
    expect(q.stats().running).toBe(0);
  });

  it('estimates Retry-After from recent job durations', () => {
    const q = new AdmissionQueue(1, 0);
    q.enter();
    q.leave(4200);
    q.enter();
    try {
      q.enter();
      expect.unreachable();
    } catch (error) {
      expect((error as OverloadedError).retryAfterSeconds).toBe(5);
    }
  });
});
