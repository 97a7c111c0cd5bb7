import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

const SOURCE_CONDITION = '@lab/source';

/**
 * The worker script next to this module: `gradient-worker.js` in the build, `gradient-worker.ts`
 * when this module itself runs from TypeScript sources (tsx, vitest).
 */
export function defaultGradientWorkerFile(): URL {
  const extension = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  return new URL(`./gradient-worker.${extension}`, import.meta.url);
}

/**
 * Node 20 does not apply an inherited `--import tsx` to a worker's entry module, so a TypeScript
 * worker starts from this CommonJS snippet, which registers tsx in the worker and then imports it.
 */
const TYPESCRIPT_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi).then(({ register }) => {
  register();
  return import(workerData.entry);
});
`;

/**
 * Starts a worker thread running `file`. A `.ts` file runs through tsx with the `@lab/source`
 * export condition (so it loads sibling packages' sources, like its parent); a `.js` file runs
 * without that condition, as compiled code loading compiled packages.
 */
export function startModuleWorker(file: URL | string): Worker {
  const url = typeof file === 'string' ? pathToFileURL(file) : file;
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { execArgv: withoutSourceCondition(process.execArgv) });
  // The ESM entry of tsx's API (its CommonJS one cannot be imported from here).
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return new Worker(TYPESCRIPT_BOOTSTRAP, {
    eval: true,
    workerData: { entry: url.href, tsxApi },
    execArgv: withSourceCondition(process.execArgv),
  });
}

/** The parent's node flags without the `@lab/source` condition. */
export function withoutSourceCondition(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if ((arg === '--conditions' || arg === '-C') && argv[i + 1] === SOURCE_CONDITION) {
      i++;
      continue;
    }
    if (arg !== `--conditions=${SOURCE_CONDITION}` && arg !== `-C=${SOURCE_CONDITION}`) out.push(arg);
  }
  return out;
}

/** The parent's node flags with the `@lab/source` condition (once). */
export function withSourceCondition(argv: readonly string[]): string[] {
  return [...withoutSourceCondition(argv), `--conditions=${SOURCE_CONDITION}`];
}
