import cliProgress from 'cli-progress';

/** Where the loop reports progress; the CLI draws a bar, tests pass nothing. */
export interface ProgressReporter {
  start(total: number, startValue: number): void;
  update(value: number, values: { loss: number; imagesPerSecond: number }): void;
  stop(): void;
}

/** "12s", "4m05s", "3h07m": whole units, carried properly (cli-progress's own ETA can print "46h60m"). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const total = Math.round(seconds);
  if (total < 60) return `${total}s`;
  if (total < 3600) return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, '0')}s`;
  const minutes = Math.round(total / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/**
 * Seconds left, from an exponential moving average of the step time: steady under the step-to-step
 * jitter of a shared machine, and still following a lasting change of speed within ~20 steps.
 */
export class EtaEstimator {
  private secondsPerStep: number | undefined;
  private lastValue: number | undefined;
  private lastTime: number | undefined;

  constructor(private readonly smoothing = 0.1) {}

  update(value: number, now: number): void {
    if (this.lastValue !== undefined && this.lastTime !== undefined && value > this.lastValue) {
      const perStep = (now - this.lastTime) / 1000 / (value - this.lastValue);
      this.secondsPerStep =
        this.secondsPerStep === undefined ? perStep : this.secondsPerStep + this.smoothing * (perStep - this.secondsPerStep);
    }
    this.lastValue = value;
    this.lastTime = now;
  }

  secondsLeft(value: number, total: number): number | undefined {
    return this.secondsPerStep === undefined ? undefined : Math.max(0, total - value) * this.secondsPerStep;
  }
}

/** A cli-progress bar on stderr: step, loss, images/s and ETA. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {value}/{total} | loss {loss} | {ips} img/s | ETA {etaText}',
      stream,
      hideCursor: true,
      etaBuffer: 50,
      noTTYOutput: !stream.isTTY,
      notTTYSchedule: 30_000,
    },
    cliProgress.Presets.shades_classic,
  );
  const eta = new EtaEstimator();
  let total = 0;
  return {
    start: (steps, startValue) => {
      total = steps;
      eta.update(startValue, Date.now());
      bar.start(steps, startValue, { loss: '–', ips: '–', etaText: '–' });
    },
    update: (value, values) => {
      eta.update(value, Date.now());
      const left = eta.secondsLeft(value, total);
      bar.update(value, {
        loss: values.loss.toFixed(4),
        ips: values.imagesPerSecond.toFixed(1),
        etaText: left === undefined ? '–' : formatDuration(left),
      });
    },
    stop: () => bar.stop(),
  };
}
