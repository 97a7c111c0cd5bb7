import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Evaluation, MetricsPoint } from './run-data.js';

/** A chart of the report: its title and the Vega-Lite spec that draws it. */
export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly spec: TopLevelSpec;
}

interface Row {
  readonly step: number;
  readonly value: number;
  readonly series: string;
}

const WIDTH = 480;
const HEIGHT = 220;
/** Lines longer than this are thinned: every point of a long run would make a multi-megabyte SVG. */
const MAX_POINTS = 1000;

/** Every k-th element (always keeping the last), so that at most `max` remain. */
export function thin<T>(items: readonly T[], max = MAX_POINTS): T[] {
  if (items.length <= max) return [...items];
  const stride = Math.ceil(items.length / max);
  const kept = items.filter((_, i) => i % stride === 0);
  const last = items.at(-1) as T;
  if (kept.at(-1) !== last) kept.push(last);
  return kept;
}

/** The smoothing window for a run of `n` steps: about 2 % of the run, between 5 and 200 steps. */
export function smoothingWindow(n: number): number {
  return Math.round(Math.min(200, Math.max(5, n / 50)));
}

/**
 * Exponential moving average with decay 1 − 1/window, bias-corrected so that the first values are
 * not pulled towards zero.
 */
export function ema(values: readonly number[], window: number): number[] {
  const decay = 1 - 1 / window;
  let average = 0;
  let weight = 0;
  return values.map((value) => {
    average = decay * average + (1 - decay) * value;
    weight = decay * weight + (1 - decay);
    return average / weight;
  });
}

const baseSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  width: WIDTH,
  height: HEIGHT,
  background: 'white',
  config: { font: 'Helvetica, Arial, sans-serif', legend: { orient: 'bottom', title: null, labelLimit: 400 } },
} as const;

// Whole steps: a single evaluation would otherwise be labelled '3,000.000000'.
const stepAxis = { field: 'step', type: 'quantitative', title: 'step', axis: { format: ',d', tickMinStep: 1 } } as const;

/**
 * A training-metric chart: one line per series (the first, raw one faint when a smoothed one
 * follows), a log y axis when the values span orders of magnitude.
 */
function seriesChart(
  id: string,
  title: string,
  yTitle: string,
  rows: Row[],
  options: { log?: boolean; colors?: string[] } = {},
): ChartSpec {
  const series = [...new Set(rows.map((r) => r.series))];
  const color = {
    field: 'series',
    type: 'nominal',
    scale: { domain: series, range: options.colors ?? ['#4c78a8', '#f58518'] },
    legend: series.length > 1 ? {} : null,
  } as const;
  const y = {
    field: 'value',
    type: 'quantitative',
    title: yTitle,
    scale: options.log ? { type: 'log' as const } : { zero: false },
  } as const;
  return {
    id,
    title,
    spec: {
      ...baseSpec,
      data: { values: rows },
      layer: series.map((name, i) => ({
        transform: [{ filter: { field: 'series', equal: name } }],
        mark: { type: 'line', strokeWidth: 1.5, opacity: series.length > 1 && i === 0 ? 0.35 : 1 },
        encoding: { x: stepAxis, y, color },
      })),
    },
  };
}

function spansDecades(values: readonly number[]): boolean {
  const positive = values.filter((v) => v > 0);
  if (positive.length !== values.length || positive.length === 0) return false;
  return Math.max(...positive) / Math.min(...positive) > 100;
}

/** Raw and smoothed series of one metric, thinned for drawing (the smoothing sees every step). */
function rawAndSmoothed(points: readonly MetricsPoint[], pick: (p: MetricsPoint) => number | undefined, name: string): Row[] {
  const present = points.filter((p) => pick(p) !== undefined);
  const values = present.map((p) => pick(p) as number);
  const window = smoothingWindow(values.length);
  const smoothed = ema(values, window);
  const indices = thin(present.map((_, i) => i));
  return [
    ...indices.map((i) => ({ step: (present[i] as MetricsPoint).step, value: values[i] as number, series: name })),
    ...indices.map((i) => ({
      step: (present[i] as MetricsPoint).step,
      value: smoothed[i] as number,
      series: `${name}, EMA over ~${window} steps`,
    })),
  ];
}

/** Loss (raw and smoothed), learning rate, gradient norm and images/s against steps; charts without data are left out. */
export function trainingCharts(points: readonly MetricsPoint[]): ChartSpec[] {
  const charts: ChartSpec[] = [
    seriesChart(
      'loss',
      'Loss',
      'loss',
      rawAndSmoothed(points, (p) => p.loss, 'loss'),
    ),
  ];
  const lr = thin(points.filter((p) => p.lr !== undefined)).map((p) => ({ step: p.step, value: p.lr as number, series: 'learning rate' }));
  if (lr.length > 0) charts.push(seriesChart('lr', 'Learning rate', 'learning rate', lr));
  const norms = points.filter((p) => p.gradNorm !== undefined).map((p) => p.gradNorm as number);
  if (norms.length > 0) {
    const rows = rawAndSmoothed(points, (p) => p.gradNorm, 'gradient norm');
    charts.push(seriesChart('grad-norm', 'Gradient norm (before clipping)', 'gradient norm', rows, { log: spansDecades(norms) }));
  }
  if (points.some((p) => p.imagesPerSecond !== undefined)) {
    const rows = rawAndSmoothed(points, (p) => p.imagesPerSecond, 'images/s');
    charts.push(seriesChart('speed', 'Training speed', 'images per second', rows, { colors: ['#54a24b', '#1b6e17'] }));
  }
  return charts;
}

const EVALUATION_METRICS = [
  { id: 'fd', key: 'fd', title: 'FD-cls (lower is better)', yTitle: 'FD-cls', lowerIsBetter: true },
  { id: 'kid', key: 'kid', title: 'KID-cls (lower is better)', yTitle: 'KID-cls (mean)', lowerIsBetter: true },
  { id: 'is', key: 'is', title: 'IS-cls (higher is better)', yTitle: 'IS-cls', lowerIsBetter: false },
] as const;

function generatedSeries(evaluation: Evaluation): string {
  return evaluation.settings === '' ? 'generated' : `generated, ${evaluation.settings}`;
}

/**
 * FD-cls, KID-cls and IS-cls of every evaluation against its step (one line per setting), with the
 * newest evaluation's real test images and uniform noise drawn as horizontal lines: the best and
 * the worst a generator can score.
 */
export function evaluationCharts(evaluations: readonly Evaluation[]): ChartSpec[] {
  if (evaluations.length === 0) return [];
  const newest = [...evaluations].sort((a, b) => a.step - b.step).at(-1) as Evaluation;
  return EVALUATION_METRICS.map(({ id, key, title, yTitle, lowerIsBetter }) => {
    const points = evaluations.map((e) => ({ step: e.step, value: e.generated[key], series: generatedSeries(e) }));
    const references = [
      { value: newest.test[key], series: `real test images (${lowerIsBetter ? 'floor' : 'ceiling'})` },
      { value: newest.noise[key], series: `uniform noise (${lowerIsBetter ? 'ceiling' : 'floor'})` },
    ];
    const generated = [...new Set(points.map((p) => p.series))];
    const domain = [...generated, ...references.map((r) => r.series)];
    const palette = ['#4c78a8', '#e45756', '#b279a2', '#ff9da6', '#9d755d'];
    const range = [...generated.map((_, i) => palette[i % palette.length] as string), '#54a24b', '#888888'];
    const color = { field: 'series', type: 'nominal', scale: { domain, range } } as const;
    return {
      id,
      title,
      spec: {
        ...baseSpec,
        layer: [
          {
            data: { values: points },
            mark: { type: 'line', point: { size: 50 }, strokeWidth: 2 },
            encoding: { x: stepAxis, y: { field: 'value', type: 'quantitative', title: yTitle }, color },
          },
          {
            data: { values: references },
            mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5 },
            encoding: { y: { field: 'value', type: 'quantitative' }, color },
          },
        ],
      },
    } satisfies ChartSpec;
  });
}

/** Compiles a Vega-Lite spec and renders it to an SVG string, headless (no browser, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
