import type { Logger } from '@lab/core';
import type { FlagSpecs } from './flags.js';

/** What every command gets from the entry point. */
export interface CliContext {
  readonly logger: Logger;
  /** The tfjs backend chosen for this invocation (commands that need none get undefined). */
  readonly backend?: string;
}

/** One `genlab-train <command>`: its flags, its lines of the usage text, and how it runs. */
export interface CliCommand {
  readonly name: string;
  /** The command's own flags (besides `--backend` and `--help`). */
  readonly flags: FlagSpecs;
  /** Its lines under "Commands:" in the usage text. */
  readonly usage: string;
  /** Whether it computes with tfjs (then a backend is initialised first). */
  readonly needsBackend: boolean;
  /** Parses `argv` (the arguments after the command name) against `flags` and runs; returns the exit code. */
  run(argv: readonly string[], context: CliContext): Promise<number>;
}
