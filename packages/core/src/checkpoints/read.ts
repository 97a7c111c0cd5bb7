import { readFile } from 'node:fs/promises';
import { CheckpointError } from '../errors.js';

/** Reads a file, turning "missing" and other I/O failures into a CheckpointError naming it. */
export async function readCheckpointFile(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new CheckpointError(file, code === 'ENOENT' ? 'Checkpoint file is missing' : `Cannot read checkpoint file: ${code ?? error}`, {
      cause: error,
    });
  }
}

/** Reads and parses a JSON file; bad JSON is a CheckpointError naming the file. */
export async function readCheckpointJson(file: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readCheckpointFile(file));
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(file, `Checkpoint file is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
