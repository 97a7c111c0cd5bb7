import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { usesFlipAverage } from '@lab/classifier';
import { type GenlabManifest, loadModelCheckpoint, MANIFEST_FILE, NotFoundError, readManifest, ValidationError } from '@lab/core';
import { type UNetEnergyNetConfig, unetEnergyNetFromDiffusion } from '@lab/energy';
import { parseDiffusionConfig } from '@lab/unet';
import type * as tfl from '@tensorflow/tfjs-layers';
import { taskFromConfig } from '../tasks/index.js';
import type { TrainingTask } from '../tasks/types.js';
import { RunDirectory, type RunInfo } from './run-dir.js';

export interface LoadedRunModel {
  readonly info: RunInfo;
  readonly task: TrainingTask;
  /** The EMA weights (the ones to sample from and to export). */
  readonly model: tfl.LayersModel;
  readonly manifest: GenlabManifest;
  readonly step: number;
  readonly checkpoint: string;
}

/** Loads a run's EMA model from its latest checkpoint (or the one at `step`). */
export async function loadRunModel(runPath: string, options: { step?: number } = {}): Promise<LoadedRunModel> {
  const dir = await RunDirectory.existing(runPath);
  const info = await dir.readInfo();
  const steps = await dir.checkpointSteps();
  const step = options.step ?? steps.at(-1);
  if (step === undefined) throw new NotFoundError(`${dir.path} has no checkpoint yet`);
  if (!steps.includes(step)) throw new NotFoundError(`${dir.path} has no checkpoint at step ${step} (have: ${steps.join(', ')})`);
  const checkpoint = dir.checkpointPath(step);
  // The EMA weights only: the raw model and Adam's state are disposed unread.
  const { model, manifest } = await loadModelCheckpoint(checkpoint, info.kind, { entry: 'ema', readTensors: false });
  return { info, task: taskFromConfig(info.kind, info.task), model, manifest, step, checkpoint };
}

/** Trained weights to start a new run from (`train --init-from`). */
export interface InitialWeights {
  readonly kind: RunInfo['kind'];
  /** The task configuration they were trained with: the new run keeps the architecture. */
  readonly config: Record<string, unknown>;
  readonly model: tfl.LayersModel;
  readonly step: number;
}

/**
 * Loads the weights a new run starts from: an exported model folder (`genlab.json` at its root,
 * the weights the API serves) or a run (the EMA weights of its latest checkpoint).
 */
export async function loadInitialWeights(path: string): Promise<InitialWeights> {
  if (existsSync(join(path, 'run.json'))) {
    const run = await loadRunModel(path);
    return { kind: run.info.kind, config: run.info.task, model: run.model, step: run.step };
  }
  if (!existsSync(join(path, MANIFEST_FILE)))
    throw new NotFoundError(`--init-from ${path}: neither a run (no run.json) nor an exported model (no ${MANIFEST_FILE})`);
  const { model, manifest } = await loadModelCheckpoint(path, (await readManifest(path)).kind, { readTensors: false });
  return { kind: manifest.kind as RunInfo['kind'], config: manifest.config as Record<string, unknown>, model, step: manifest.step };
}

/**
 * A diffusion model's UNet, taken at its null class, as the body of a score-matching energy
 * (`train --model energy --objective dsm --init-from <diffusion model>`). A new model, owned by
 * the caller; `source` is left as it was.
 */
export function diffusionAsEnergyBody(source: InitialWeights): { net: UNetEnergyNetConfig; model: tfl.LayersModel } {
  if (source.kind !== 'diffusion') throw new ValidationError(`a ${source.kind} model has no UNet to build an energy on`);
  return unetEnergyNetFromDiffusion(source.model, parseDiffusionConfig(source.config));
}

/** A classifier for evaluation, and how its bundle asks to be run. */
export interface LoadedClassifier {
  readonly model: tfl.LayersModel;
  /** The bundle was exported with `--flip-average` (never for a run). */
  readonly flipAverage: boolean;
}

/**
 * Loads a classifier for evaluation from a classifier run (the EMA weights of its latest
 * checkpoint, or of the one at `step`) or from an exported model folder (`genlab.json` of kind
 * `classifier`).
 */
export async function loadClassifier(path: string, options: { step?: number } = {}): Promise<LoadedClassifier> {
  if (existsSync(join(path, 'run.json'))) {
    const run = await loadRunModel(path, options);
    if (run.info.kind !== 'classifier') {
      run.model.dispose();
      throw new ValidationError(`${path} is a ${run.info.kind} run, not a classifier run`);
    }
    return { model: run.model, flipAverage: false };
  }
  if (!existsSync(join(path, MANIFEST_FILE)))
    throw new NotFoundError(`${path} is neither a classifier run nor an exported classifier (no run.json or ${MANIFEST_FILE})`);
  if (options.step !== undefined) throw new ValidationError(`${path} is an exported classifier: a step applies to runs only`);
  const { kind, config } = await readManifest(path);
  if (kind !== 'classifier') throw new ValidationError(`${path} holds a ${kind} model, not a classifier`);
  const flipAverage = usesFlipAverage(config);
  return { model: (await loadModelCheckpoint(path, 'classifier', { readTensors: false })).model, flipAverage };
}
