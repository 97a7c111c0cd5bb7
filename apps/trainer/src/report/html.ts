import { basename } from 'node:path';
import type { RunData } from './run-data.js';

/** A chart already rendered to SVG. */
export interface RenderedChart {
  readonly title: string;
  readonly svg: string;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * An SVG to place inside the page: HTML parses inline SVG without the XML namespace declarations,
 * and dropping them leaves the page free of any URL.
 */
export function inlineSvg(svg: string): string {
  return svg.replace(/\s+xmlns(:xlink)?="[^"]*"/g, '');
}

const STYLE = `
body { font: 15px/1.45 Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1240px; padding: 16px 24px; color: #222; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0.6em 0; }
dl.summary dt { color: #666; } dl.summary dd { margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 24px; }
figure { margin: 0; } figcaption { font-weight: bold; margin-bottom: 2px; }
.samples { display: flex; flex-wrap: wrap; gap: 16px; }
.samples img { image-rendering: pixelated; width: 192px; height: auto; border: 1px solid #ccc; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: right; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 8px 12px; overflow-x: auto; font-size: 13px; }
.empty { color: #a33; }
`;

function figure(chart: RenderedChart): string {
  return `<figure><figcaption>${escapeHtml(chart.title)}</figcaption>${inlineSvg(chart.svg)}</figure>`;
}

function format(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(4);
}

function summary(data: RunData): string {
  const last = data.metrics.at(-1);
  const rows: [string, string][] = [
    ['kind', data.info.kind],
    ['step', `${last?.step ?? 0} of ${data.info.steps}`],
    ['backend', data.backend ?? 'not recorded yet (no checkpoint)'],
    ['started', data.info.created],
    ...(last ? ([['last loss', format(last.loss)]] as [string, string][]) : []),
    ...(data.info.initFrom
      ? ([['initialised from', `${data.info.initFrom.path} (step ${data.info.initFrom.step})`]] as [string, string][])
      : []),
  ];
  return `<dl class="summary">${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

function evaluationTable(data: RunData): string {
  const header = '<tr><th>file</th><th>step</th><th>settings</th><th>n</th><th>FD-cls</th><th>KID-cls</th><th>IS-cls</th></tr>';
  const rows = data.evaluations.map((e) =>
    [
      e.file,
      String(e.step),
      e.settings || 'the run’s own',
      String(e.count),
      format(e.generated.fd),
      format(e.generated.kid),
      format(e.generated.is),
    ]
      .map((cell) => `<td>${escapeHtml(cell)}</td>`)
      .join(''),
  );
  return `<table>${header}${rows.map((r) => `<tr>${r}</tr>`).join('')}</table>`;
}

function samples(data: RunData): string {
  if (data.samples.length === 0) return '<p class="empty">No sample grids yet.</p>';
  const images = data.samples.map(
    (s) =>
      `<figure><figcaption>step ${s.step}</figcaption><img alt="samples at step ${s.step}" src="data:image/png;base64,${Buffer.from(s.png).toString('base64')}"></figure>`,
  );
  return `<div class="samples">${images.join('')}</div>`;
}

/** The whole report: one HTML page with inline CSS, inline SVG and data: images (no scripts, no URLs). */
export function reportHtml(data: RunData, charts: { training: RenderedChart[]; evaluation: RenderedChart[] }, generated: Date): string {
  const name = basename(data.path);
  const training =
    data.metrics.length === 0
      ? '<p class="empty">No training steps recorded yet (metrics.jsonl is missing or empty).</p>'
      : `<div class="charts">${charts.training.map(figure).join('')}</div>`;
  const evaluation =
    data.evaluations.length === 0
      ? '<p class="empty">No evaluations yet (run <code>evaluate --run</code> on this run).</p>'
      : `<div class="charts">${charts.evaluation.map(figure).join('')}</div>${evaluationTable(data)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(name)}: genlab run report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Run ${escapeHtml(name)}</h1>
<p>${escapeHtml(data.path)} · report written ${escapeHtml(generated.toISOString())}</p>
${summary(data)}
<h2>Training</h2>
${training}
<h2>Evaluations</h2>
${evaluation}
<h2>Samples</h2>
${samples(data)}
<h2>Configuration (run.json)</h2>
<pre>${escapeHtml(JSON.stringify(data.info, null, 2))}</pre>
</body>
</html>
`;
}
