import cliProgress from 'cli-progress';

/** Where the loop reports progress; the CLI draws a bar, tests pass nothing. */
export interface ProgressReporter {
  start(total: number, startValue: number): void;
  update(value: number, values: { loss: number; imagesPerSecond: number }): void;
  stop(): void;
}

/** A cli-progress bar on stderr: step, loss, images/s and ETA. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}',
      stream,
      hideCursor: true,
      etaBuffer: 50,
      noTTYOutput: !stream.isTTY,
      notTTYSchedule: 30_000,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    start: (total, startValue) => bar.start(total, startValue, { loss: '–', ips: '–' }),
    update: (value, values) => bar.update(value, { loss: values.loss.toFixed(4), ips: values.imagesPerSecond.toFixed(1) }),
    stop: () => bar.stop(),
  };
}
