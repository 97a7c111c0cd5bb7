import { type Logger, silentLogger } from '@lab/core';
import { refreshReport } from '../commands/report.js';
import type { ProgressReporter } from '../run/progress.js';

/**
 * Refreshes a run's report every `every` steps while it trains (`train --report-every N`), by
 * watching the loop's progress. A refresh runs beside training (never two at once: a step that
 * comes due while one is running is skipped) and only warns when it fails.
 */
export class LiveReport {
  private pending: Promise<unknown> | undefined;

  constructor(
    private readonly run: string,
    private readonly every: number,
    private readonly logger: Logger = silentLogger,
  ) {}

  /** The loop's progress reporter, passed through to `inner`, that also triggers the refreshes. */
  progress(inner?: ProgressReporter): ProgressReporter {
    return {
      start: (total, startValue) => inner?.start(total, startValue),
      stop: () => inner?.stop(),
      update: (value, values) => {
        inner?.update(value, values);
        if (value % this.every === 0 && !this.pending) {
          this.pending = refreshReport(this.run, this.logger).finally(() => {
            this.pending = undefined;
          });
        }
      },
    };
  }

  /** Waits for a refresh in progress, then writes the report of the run as it ended. */
  async finish(): Promise<void> {
    await this.pending;
    await refreshReport(this.run, this.logger);
  }
}
