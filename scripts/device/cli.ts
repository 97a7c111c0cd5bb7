/**
 * The trainer's CLI (apps/trainer/src/cli.ts) as one esbuild bundle for a GPU machine that has
 * no node_modules (docs/gpu.md, scripts/device/run-cuda.sh). A bundle cannot resolve
 * `initBackend`'s dynamic `import('@lab/backend-torch')`, so the backend is bundled here and
 * handed to it through `loader`; the addon is read from `../build/Release/` beside the bundle.
 * apps/trainer/src/cli.ts's own `main` is not reused: bundled, its run-when-executed check would
 * see the bundle as its entry point and run a second time with the default loader.
 *
 *   node dist/genlab.mjs train --model classifier --out runs/c --data-dir cifar-10-batches-bin
 */
import { createLogger, initBackend, isGenlabError, parseBackendName, ValidationError } from '@lab/core';
import { type CliCommand, evaluateCli, exportCli, parseFlags, reportCli, sampleCli, trainCli } from '../../apps/trainer/src/cli/index.js';
import { bundledTorchLoader as loader } from './torch-loader.js';

const COMMANDS: readonly CliCommand[] = [trainCli, evaluateCli, exportCli, sampleCli, reportCli];

async function main(argv: string[]): Promise<number> {
  const logger = createLogger({ pretty: true });
  const [name, ...rest] = argv;
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new ValidationError(`usage: genlab.mjs ${COMMANDS.map((c) => c.name).join('|')} [flags] (see apps/trainer)`);
  const forced = parseFlags(rest, command.flags).backend;
  if (!command.needsBackend) return command.run(rest, { logger });
  const backend = await initBackend({ logger, loader, ...(typeof forced === 'string' ? { force: parseBackendName(forced) } : {}) });
  process.stderr.write(`backend: ${backend.name} (${backend.detail})\n`);
  return command.run(rest, { logger, backend: backend.name });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `error: ${isGenlabError(error) ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
