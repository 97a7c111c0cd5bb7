import { join } from 'node:path';
import type { ModelRegistry } from '@lab/api-plugin';
import { loadCheckpoint, NotFoundError } from '@lab/core';
import type * as tf from '@tensorflow/tfjs-core';
import type express from 'express';

/** The training images' energies of an energy model, as a histogram (what `/score` ranks against). */
export interface TrainingEnergies {
  readonly model: string;
  readonly count: number;
  readonly min: number;
  readonly max: number;
  /** `bins + 1` bin edges from min to max. */
  readonly edges: number[];
  /** Images per bin; the last bin includes max. */
  readonly counts: number[];
}

const BINS = 30;

/** The route's OpenAPI path item (the app adds it to the plugin routes' document). */
export const TRAINING_ENERGIES_PATH = {
  '/v1/models/{id}/training-energies': {
    get: {
      summary: "Histogram of an energy model's training-image energies (what /score ranks against)",
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      responses: {
        '200': {
          description: 'The histogram',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['model', 'count', 'min', 'max', 'edges', 'counts'],
                properties: {
                  model: { type: 'string' },
                  count: { type: 'integer', description: 'Training images scored' },
                  min: { type: 'number' },
                  max: { type: 'number' },
                  edges: { type: 'array', items: { type: 'number' }, description: `${BINS + 1} bin edges from min to max` },
                  counts: { type: 'array', items: { type: 'integer' }, description: 'Images per bin; the last bin includes max' },
                },
              },
            },
          },
        },
        '404': { description: 'No such energy model, or its checkpoint stores no training energies' },
      },
    },
  },
} as const;

/** Histogram of `values` over [min, max] in `bins` equal bins. */
export function histogram(model: string, values: ArrayLike<number>, bins = BINS): TrainingEnergies {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i] as number);
    max = Math.max(max, values[i] as number);
  }
  const width = max > min ? (max - min) / bins : 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => min + i * width);
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const bin = Math.min(bins - 1, Math.floor(((values[i] as number) - min) / width));
    counts[bin] = (counts[bin] as number) + 1;
  }
  return { model, count: values.length, min, max, edges, counts };
}

/** Reads the `trainingEnergies` tensor or JSON entry of the checkpoint in `dir` (as the energy plugin does). */
async function readTrainingEnergies(dir: string): Promise<number[]> {
  const { tensors, json } = await loadCheckpoint(dir, { models: false });
  try {
    const tensor = tensors.trainingEnergies as tf.Tensor | undefined;
    if (tensor) return Array.from(await tensor.data());
    return Array.isArray(json.trainingEnergies) ? (json.trainingEnergies as number[]) : [];
  } finally {
    for (const t of Object.values(tensors)) (t as tf.Tensor).dispose();
  }
}

/**
 * `GET /v1/models/:id/training-energies`: the histogram of the training images' energies that
 * `/score` computes percentiles against, for the playground's score panel. 404 for unknown or
 * non-energy models and for checkpoints without stored energies. Read once per model, then cached.
 */
export function trainingEnergiesRoute(app: express.Express, registry: ModelRegistry, modelsDir: string | undefined): void {
  const cache = new Map<string, Promise<TrainingEnergies | undefined>>();
  app.get('/v1/models/:id/training-energies', async (req, res) => {
    const id = req.params.id;
    const model = registry.has(id) ? registry.describe(id) : undefined;
    if (model?.kind !== 'energy' || !modelsDir) throw new NotFoundError(`No energy model "${id}"`, { details: { model: id } });
    let found = cache.get(id);
    if (!found) {
      found = readTrainingEnergies(join(modelsDir, id)).then(
        (values) => (values.length > 0 ? histogram(id, values) : undefined),
        () => undefined,
      );
      cache.set(id, found);
    }
    const result = await found;
    if (!result) throw new NotFoundError(`Model "${id}" stores no training energies`, { details: { model: id } });
    res.json(result);
  });
}
