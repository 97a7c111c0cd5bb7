import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Logger, silentLogger } from '@lab/core';
import { evaluationCharts, renderSvg, trainingCharts } from '../report/charts.js';
import { reportHtml } from '../report/html.js';
import { loadRunData } from '../report/run-data.js';
import { writeAtomic } from '../run/run-dir.js';

export interface ReportCommandOptions {
  run: string;
  /** How many of the newest sample grids to embed (default 6). */
  samples?: number;
  /** Also write each chart as `<svgDir>/<chart>.svg` (for docs; the report itself stays one file). */
  svgDir?: string;
  logger?: Logger;
}

export const REPORT_FILE = 'report.html';

/**
 * `report`: writes `<run>/report.html`, one self-contained page with the run's training curves,
 * evaluations, newest sample grids and configuration. Written atomically: a browser reloading it
 * while training refreshes it never sees half a page.
 */
export async function reportCommand(
  options: ReportCommandOptions,
): Promise<{ file: string; charts: number; step: number; svgFiles: string[] }> {
  const data = await loadRunData(options.run, { maxSamples: options.samples ?? 6 });
  const render = (specs: ReturnType<typeof trainingCharts>) =>
    Promise.all(specs.map(async (chart) => ({ title: chart.title, svg: await renderSvg(chart.spec) })));
  const training = data.metrics.length > 0 ? await render(trainingCharts(data.metrics)) : [];
  const evaluation = await render(evaluationCharts(data.evaluations));
  const file = join(data.path, REPORT_FILE);
  await writeAtomic(file, reportHtml(data, { training, evaluation }, new Date()));
  const svgFiles = options.svgDir === undefined ? [] : await writeSvgFiles(options.svgDir, [...training, ...evaluation]);
  const step = data.metrics.at(-1)?.step ?? 0;
  (options.logger ?? silentLogger).info('report written', { file, step, ...(svgFiles.length > 0 ? { svgDir: options.svgDir } : {}) });
  return { file, charts: training.length + evaluation.length, step, svgFiles };
}

/** One standalone SVG per chart, named after its title ("FD-cls (lower is better)" → fd-cls.svg). */
async function writeSvgFiles(dir: string, charts: ReadonlyArray<{ title: string; svg: string }>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  return Promise.all(
    charts.map(async (chart) => {
      const slug = chart.title
        .replace(/\s*\(.*\)$/, '')
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '');
      const path = join(dir, `${slug}.svg`);
      await writeFile(path, chart.svg.startsWith('<?xml') ? chart.svg : `<?xml version="1.0" encoding="UTF-8"?>\n${chart.svg}\n`);
      return path;
    }),
  );
}

/** Writes the report where it is a side job (training, evaluation): a failure is a warning, never an error. */
export async function refreshReport(run: string, logger: Logger = silentLogger): Promise<string | undefined> {
  try {
    return (await reportCommand({ run, logger })).file;
  } catch (error) {
    logger.warn('could not write the run report', { run, error: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}
