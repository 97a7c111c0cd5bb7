import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../api-report.mjs', import.meta.url));
let root = '';

/** Runs the report script on the fixture repository; resolves with its exit code and output. */
async function apiReport(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, '--root', root, ...args]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

beforeAll(async () => {
  // A one-package repository: a main entry and a subpath, with each kind of export.
  root = await mkdtemp(join(tmpdir(), 'genlab-api-report-'));
  const pkg = join(root, 'packages', 'demo');
  await mkdir(join(pkg, 'src', 'extra'), { recursive: true });
  const exports = {
    '.': { '@lab/source': './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
    './extra': { '@lab/source': './src/extra/index.ts', types: './dist/extra/index.d.ts', default: './dist/extra/index.js' },
    './package.json': './package.json',
  };
  await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: '@lab/demo', version: '0.0.1', type: 'module', exports }));
  await writeFile(
    join(pkg, 'src', 'impl.ts'),
    [
      'export function make(): number { return 1; }',
      'export class Box {}',
      'export interface Shape { readonly side: number }',
      'export type Kind = "a" | "b";',
      'export const LIMIT = 3;',
      'export function internalHelper(): void {}',
    ].join('\n'),
  );
  await writeFile(join(pkg, 'src', 'index.ts'), "export { Box, type Kind, LIMIT, make, type Shape } from './impl.js';\n");
  await writeFile(join(pkg, 'src', 'extra', 'index.ts'), 'export let counter = 0;\n');
  // A private package is not reported.
  await mkdir(join(root, 'packages', 'hidden', 'src'), { recursive: true });
  await writeFile(
    join(root, 'packages', 'hidden', 'package.json'),
    JSON.stringify({ name: '@lab/hidden', private: true, exports: { '.': { '@lab/source': './src/index.ts' } } }),
  );
  await writeFile(join(root, 'packages', 'hidden', 'src', 'index.ts'), 'export const x = 1;\n');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('scripts/api-report.mjs', () => {
  it('writes each entry point’s exports, sorted, with their kind; internals that are not re-exported stay out', async () => {
    expect((await apiReport()).code).toBe(1); // no report committed yet
    expect((await apiReport('--update')).code).toBe(0);
    const report = await readFile(join(root, 'packages', 'demo', 'api-report.md'), 'utf8');
    const main = report.slice(report.indexOf('## `@lab/demo`'), report.indexOf('## `@lab/demo/extra`'));
    expect(main.split('\n').filter((line) => line.startsWith('- '))).toEqual([
      '- `Box` class',
      '- `Kind` type',
      '- `LIMIT` const',
      '- `Shape` interface',
      '- `make` function',
    ]);
    expect(report).toContain('## `@lab/demo/extra`\n\n- `counter` let\n');
    expect(report).not.toContain('internalHelper');
    expect((await apiReport()).code).toBe(0);
  });

  it('fails when an export is added without updating the report, and says how to update it', async () => {
    await appendFile(join(root, 'packages', 'demo', 'src', 'index.ts'), "export { internalHelper } from './impl.js';\n");
    const { code, output } = await apiReport();
    expect(code).toBe(1);
    expect(output).toContain('@lab/demo: the public API differs');
    expect(output).toContain('+ - `internalHelper` function');
    expect(output).toContain('npm run check:api -- --update');
    expect((await apiReport('--update')).code).toBe(0);
    expect((await apiReport()).code).toBe(0);
  });
});
