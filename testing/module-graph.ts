import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/**
 * Imports `specifier` in a fresh Node process (TypeScript sources through tsx and the
 * `@lab/source` condition, as the tests see them) and returns the URL of every module it
 * resolved, so a test can assert what an entry point does and does not pull in.
 */
export async function modulesLoadedBy(specifier: string, cwd: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'genlab-graph-'));
  const log = join(dir, 'resolved.txt');
  const hooks = pathToFileURL(join(here, 'resolve-recorder.mjs')).href;
  // Registered after tsx, so these hooks run first and see tsx's answer through nextResolve.
  const script = `import { register } from 'node:module'; register(${JSON.stringify(hooks)}); await import(${JSON.stringify(specifier)});`;
  try {
    await run(process.execPath, ['--conditions=@lab/source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd,
      env: { ...process.env, GENLAB_RESOLVE_LOG: log },
    });
    return (await readFile(log, 'utf8')).split('\n').filter((line) => line.length > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
