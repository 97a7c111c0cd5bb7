#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger, initBackend, isGenlabError, type Logger, parseBackendName, ValidationError } from '@lab/core';
import {
  type CliCommand,
  evaluateCli,
  exportCli,
  GLOBAL_FLAGS,
  parseFlags,
  reportCli,
  SAMPLING_NOTES,
  sampleCli,
  TRAIN_NOTES,
  trainCli,
} from './cli/index.js';

const COMMANDS: readonly CliCommand[] = [trainCli, evaluateCli, exportCli, sampleCli, reportCli];

const GLOBAL_NOTES = `Data: --data-dir or GENLAB_CIFAR10_DIR (a cifar-10-batches-bin folder); otherwise the official
archive is downloaded once into GENLAB_CACHE (default ~/.cache/genlab).
Backend (every command): --backend torch|tensorflow-gpu|tensorflow|webgpu|wasm|cpu, or GENLAB_BACKEND;
otherwise the fastest available. torch uses every core (GENLAB_TORCH_THREADS sets how many).`;

/** The usage text: each command's own lines, then what applies to all, to sampling, then the train notes. */
export const USAGE = `genlab-train <command> [options]

Commands:
${COMMANDS.map((c) => c.usage).join('\n')}

${GLOBAL_NOTES}
${SAMPLING_NOTES}
${TRAIN_NOTES}`;

/**
 * Finds the command (the first positional) without knowing yet whose flags follow: every
 * command's flags are known here, so a flag's value is never taken for the command.
 */
function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[]; help: boolean } {
  const options = Object.assign({}, ...COMMANDS.map((c) => c.flags), GLOBAL_FLAGS);
  const { values, tokens } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: false, tokens: true });
  const first = tokens.find((t) => t.kind === 'positional');
  if (!first) return { name: undefined, rest: [...argv], help: values.help === true };
  return { name: first.value, rest: argv.filter((_, i) => i !== first.index), help: values.help === true };
}

/** A flag another command owns is named as such (parseArgs would only call it unknown). */
function checkOwnFlags(command: CliCommand, argv: readonly string[]): void {
  for (const arg of argv) {
    if (arg === '--') return;
    const flag = /^--([^=]+)/.exec(arg)?.[1];
    if (!flag || flag in command.flags || flag in GLOBAL_FLAGS) continue;
    const owners = COMMANDS.filter((c) => flag in c.flags).map((c) => c.name);
    if (owners.length > 0) throw new ValidationError(`${command.name} does not take --${flag} (a flag of ${owners.join(', ')})`);
  }
}

/** Runs one CLI invocation; returns the process exit code. */
export async function main(argv: string[], logger: Logger = createLogger({ pretty: true })): Promise<number> {
  const { name, rest, help } = splitCommand(argv);
  if (help || !name) {
    process.stdout.write(`${USAGE}\n`);
    return name || help ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new ValidationError(`unknown command '${name}' (train, evaluate, export, sample, report)`);
  checkOwnFlags(command, rest);
  // Parse (and so validate) the command's flags before choosing a backend.
  const forced = parseFlags(rest, command.flags).backend;
  if (!command.needsBackend) return command.run(rest, { logger });
  const backend = await initBackend({ logger, ...(typeof forced === 'string' ? { force: parseBackendName(forced) } : {}) });
  logger.info('backend', { backend: backend.name, tfjs: backend.tfBackend, detail: backend.detail });
  process.stderr.write(`backend: ${backend.name} (${backend.detail})\n`);
  return command.run(rest, { logger, backend: backend.name });
}

// Run when executed directly, also through the npm bin symlink (hence realpath).
const isEntryPoint = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isEntryPoint) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${isGenlabError(error) || error instanceof TypeError ? error.message : String(error)}\n`);
      if (!isGenlabError(error) && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
      process.exitCode = isGenlabError(error) && error.code === 'validation' ? 2 : 1;
    },
  );
}
