import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A start line through a folder, so that processes measured together start their timed steps
 * together (their start-up takes different times). Each process writes `ready-<id>` and waits
 * for `go`; the parent writes `go` once all are ready (`releaseWhenReady`).
 */
const GO = 'go';

/** Marks this process ready and waits for `go` (at most `timeoutMs`; resolves false when it gave up waiting). */
export async function arriveAndWait(dir: string, id: string, timeoutMs = 600_000): Promise<boolean> {
  writeFileSync(join(dir, `ready-${id}`), '');
  const until = performance.now() + timeoutMs;
  while (!existsSync(join(dir, GO))) {
    if (performance.now() > until) return false;
    await sleep(10);
  }
  return true;
}

/** How many processes have arrived. */
export function readyCount(dir: string): number {
  return readdirSync(dir).filter((name) => name.startsWith('ready-')).length;
}

/**
 * Writes `go` once `count` processes are ready, or at once when `abandoned()` says that one of
 * them will never arrive (it exited), so the others do not wait for their timeout.
 */
export async function releaseWhenReady(dir: string, count: number, abandoned: () => boolean): Promise<void> {
  while (readyCount(dir) < count && !abandoned()) await sleep(20);
  writeFileSync(join(dir, GO), '');
}
