#!/usr/bin/env node
// Runs every project's vitest suite through nx; then, where the LibTorch addon is built, the
// model suites again on the torch backend (GENLAB_BACKEND=torch), whose results must match
// the same closed forms, finite differences and references. Prints one closing line that
// counts the tests of both runs: "N passed, N failed" (", N skipped").
//
//   npm test                      # both runs (the torch run is skipped, with the reason, without the addon)
//   npm test -- --projects=unet   # extra arguments go to nx, in both runs
//   GENLAB_REQUIRE_TORCH=1 npm test   # a missing addon is a failure (CI installs LibTorch)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const roots = [...['packages', 'apps'].flatMap((dir) => readdirSync(dir).map((name) => join(dir, name))), 'bench', 'scripts'];
/** The projects whose suites also run on torch (issue 16). */
const TORCH_PROJECTS = ['embeddings', 'unet', 'energy', 'classifier', 'samplers', 'trainer'];
const TORCH_ROOTS = ['packages/embeddings', 'packages/unet', 'packages/energy', 'packages/classifier', 'packages/samplers', 'apps/trainer'];
const extra = process.argv.slice(2);
const totals = { passed: 0, failed: 0, skipped: 0 };
let ok = true;

function clearReports() {
  for (const root of roots) rmSync(join(root, 'test-results'), { recursive: true, force: true });
}

/** Runs nx's test target and adds the projects' vitest reports to `totals`. */
function runPhase(label, nxArgs, env, expectedRoots) {
  clearReports();
  console.log(`\n=== ${label}`);
  const run = spawnSync(
    'npx',
    ['nx', 'run-many', '-t', 'test', '--parallel=1', '--outputStyle=static', '--skip-nx-cache', ...nxArgs, ...extra],
    {
      stdio: 'inherit',
      env,
    },
  );
  const before = totals.failed;
  const missing = [];
  for (const root of roots) {
    const file = join(root, 'test-results', 'results.json');
    if (!existsSync(file)) {
      if (existsSync(join(root, 'vitest.config.ts')) && expectedRoots.includes(root)) missing.push(root);
      continue;
    }
    const report = JSON.parse(readFileSync(file, 'utf8'));
    totals.passed += report.numPassedTests ?? 0;
    totals.failed += report.numFailedTests ?? 0;
    totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  }
  if (missing.length > 0 && extra.length === 0) console.log(`no test report from: ${missing.join(', ')}`);
  if (run.status !== 0) {
    ok = false;
    if (totals.failed === before) totals.failed += Math.max(1, missing.length);
  }
}

runPhase('all projects (tfjs-backend-cpu, wasm, webgpu in Chromium, torch against cpu)', [], process.env, roots);

const addon = join('packages', 'backend-torch', 'build', 'Release', 'genlab_torch.node');
if (existsSync(addon)) {
  runPhase(
    'the model suites on LibTorch (GENLAB_BACKEND=torch)',
    [`--projects=${TORCH_PROJECTS.join(',')}`],
    {
      ...process.env,
      GENLAB_BACKEND: 'torch',
    },
    TORCH_ROOTS,
  );
} else {
  const skippedFile = join('packages', 'backend-torch', 'build', 'skipped.json');
  const reason = existsSync(skippedFile) ? JSON.parse(readFileSync(skippedFile, 'utf8')).reason : 'the LibTorch addon is not built';
  console.log(`\n=== the model suites on LibTorch: skipped (${reason})`);
  if (process.env.GENLAB_REQUIRE_TORCH === '1') {
    console.log('GENLAB_REQUIRE_TORCH=1: the LibTorch addon must be built');
    totals.failed += 1;
    ok = false;
  }
}

console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
