#!/usr/bin/env node
// Runs every project's vitest suite through nx, then prints one closing line that
// counts the tests of all projects: "N passed, N failed" (", N skipped").
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const roots = [...['packages', 'apps'].flatMap((dir) => readdirSync(dir).map((name) => join(dir, name))), 'bench'];
for (const root of roots) rmSync(join(root, 'test-results'), { recursive: true, force: true });

const extra = process.argv.slice(2);
const run = spawnSync('npx', ['nx', 'run-many', '-t', 'test', '--parallel=1', '--outputStyle=static', '--skip-nx-cache', ...extra], {
  stdio: 'inherit',
});

let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const root of roots) {
  const file = join(root, 'test-results', 'results.json');
  if (!existsSync(file)) {
    if (existsSync(join(root, 'vitest.config.ts'))) missing.push(root);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
if (missing.length > 0) console.log(`no test report from: ${missing.join(', ')}`);
const status = run.status ?? 1;
if (status !== 0 && failed === 0) failed = Math.max(1, missing.length);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(status === 0 && failed === 0 ? 0 : 1);
