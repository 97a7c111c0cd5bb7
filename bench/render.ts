/**
 * Re-renders docs/bench/latest.md from docs/bench/latest.json (after a change to the report's
 * layout, without measuring again): `node --conditions=@lab/source --import tsx bench/render.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchReport, historyLine, renderLatest } from './lib/report.js';

const docs = join(dirname(dirname(fileURLToPath(import.meta.url))), 'docs/bench');
const report = JSON.parse(readFileSync(join(docs, 'latest.json'), 'utf8')) as BenchReport;
writeFileSync(join(docs, 'latest.md'), renderLatest(report));
// The history line this report gives (history.md itself is append-only: paste it if needed).
process.stdout.write(`${historyLine(report)}\n`);
