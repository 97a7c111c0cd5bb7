import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, ValidationError } from '../errors.js';
import { type CheckpointWriter, fsWriter, syncDirectory } from './fs-writer.js';
import { type GenlabManifest, MANIFEST_FILE, parseManifest } from './manifest.js';
import { fileSystemModelHandler } from './model-io.js';
import { isRecord, readCheckpointJson } from './read.js';
import { readTensors, writeTensors } from './tensors-io.js';

export const STATE_JSON = 'state.json';
const MODELS_DIR = 'models';
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** What a checkpoint holds. */
export interface CheckpointContents {
  manifest: GenlabManifest;
  /** Layers models by name, each saved as `models/<name>/model.json` + `weights.bin`. */
  models?: Record<string, LayersModel>;
  /** Named tensors: optimizer state, EMA weights, a replay buffer. */
  tensors?: Record<string, tf.Tensor>;
  /** Small JSON state: RNG state, data-loader position, loss history. */
  json?: Record<string, unknown>;
}

export interface SaveCheckpointOptions {
  /** Model weights as float16 (half the size, ~3 significant digits). Default float32. */
  weightDtype?: 'float32' | 'float16';
  /** Injected in tests to fail a save midway. */
  writer?: CheckpointWriter;
}

export interface LoadedCheckpoint {
  manifest: GenlabManifest;
  models: Record<string, LayersModel>;
  tensors: Record<string, tf.Tensor>;
  json: Record<string, unknown>;
}

export interface LoadCheckpointOptions {
  /** Load models (default true); false reads manifest, tensors and JSON only. */
  models?: boolean;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Where the old checkpoint waits while a new one is renamed into place. */
function previousPath(dir: string): string {
  return `${dir}.previous`;
}

/**
 * Saves a checkpoint atomically: everything is written (and fsynced) into a temporary
 * folder beside `dir`, then swapped in by rename. A save that fails or is killed midway
 * leaves the previous checkpoint at `dir` loadable; between the two renames of the swap
 * it sits at `<dir>.previous`, which `loadCheckpoint` falls back to.
 */
export async function saveCheckpoint(dir: string, contents: CheckpointContents, options: SaveCheckpointOptions = {}): Promise<void> {
  const target = path.resolve(dir);
  parseManifest(contents.manifest, path.join(target, MANIFEST_FILE));
  for (const name of Object.keys(contents.models ?? {})) {
    if (!SAFE_NAME.test(name)) throw new ValidationError(`Model name '${name}' must match ${SAFE_NAME}`);
  }
  const writer = options.writer ?? fsWriter;
  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  const temp = path.join(parent, `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(temp);
    for (const [name, model] of Object.entries(contents.models ?? {})) {
      await model.save(
        fileSystemModelHandler(path.join(temp, MODELS_DIR, name), {
          writer,
          ...(options.weightDtype ? { weightDtype: options.weightDtype } : {}),
        }),
      );
    }
    await writeTensors(temp, contents.tensors ?? {}, writer);
    await writer.writeFile(path.join(temp, STATE_JSON), JSON.stringify(contents.json ?? {}));
    // The manifest goes last: a folder with a valid genlab.json is complete.
    await writer.writeFile(path.join(temp, MANIFEST_FILE), JSON.stringify(contents.manifest, null, 2));
    await syncDirectory(temp);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  const previous = previousPath(target);
  await rm(previous, { recursive: true, force: true });
  const hadOld = await exists(target);
  if (hadOld) await rename(target, previous);
  await rename(temp, target);
  await syncDirectory(parent);
  if (hadOld) await rm(previous, { recursive: true, force: true });
}

/** Reads `genlab.json` only. */
export async function readManifest(dir: string): Promise<GenlabManifest> {
  const file = path.join(await resolveCheckpointDir(dir), MANIFEST_FILE);
  return parseManifest(await readCheckpointJson(file), file);
}

/** `dir`, or `<dir>.previous` when a save was interrupted between its two renames. */
async function resolveCheckpointDir(dir: string): Promise<string> {
  const target = path.resolve(dir);
  if (!(await exists(target)) && (await exists(path.join(previousPath(target), MANIFEST_FILE)))) return previousPath(target);
  return target;
}

/**
 * Loads a checkpoint saved by `saveCheckpoint`. Custom layers must be registered first
 * (import the package that defines them). Missing or corrupt files raise CheckpointError
 * naming the file.
 */
export async function loadCheckpoint(dir: string, options: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const root = await resolveCheckpointDir(dir);
  const manifestFile = path.join(root, MANIFEST_FILE);
  const manifest = parseManifest(await readCheckpointJson(manifestFile), manifestFile);
  const stateFile = path.join(root, STATE_JSON);
  const json = await readCheckpointJson(stateFile);
  if (!isRecord(json)) throw new CheckpointError(stateFile, 'State is not a JSON object');
  const tensors = await readTensors(root);
  const models: Record<string, LayersModel> = {};
  if (options.models !== false && (await exists(path.join(root, MODELS_DIR)))) {
    for (const name of (await readdir(path.join(root, MODELS_DIR))).sort()) {
      const modelDir = path.join(root, MODELS_DIR, name);
      try {
        models[name] = await loadLayersModel(fileSystemModelHandler(modelDir));
      } catch (error) {
        for (const m of Object.values(models)) m.dispose();
        for (const t of Object.values(tensors)) t.dispose();
        if (error instanceof CheckpointError) throw error;
        throw new CheckpointError(path.join(modelDir, 'model.json'), `Cannot rebuild model '${name}': ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
  }
  return { manifest, models, tensors, json };
}
