import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../errors.js';
import { float32ToFloat16 } from './float16.js';
import { type CheckpointWriter, fsWriter } from './fs-writer.js';
import { isRecord, readCheckpointFile, readCheckpointJson } from './read.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

export interface ModelIOOptions {
  /** Store float32 weights as float16 (half the size; tfjs dequantises them on load). Default float32. */
  weightDtype?: 'float32' | 'float16';
  writer?: CheckpointWriter;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes a weight occupies in weights.bin (its quantised size when quantised). */
function storedBytes(spec: tf.io.WeightsManifestEntry, file: string): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytes = BYTES[dtype];
  if (bytes === undefined) throw new CheckpointError(file, `Unsupported weight dtype '${dtype}' for '${spec.name}'`);
  return spec.shape.reduce((a, b) => a * b, 1) * bytes;
}

function toFloat16(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1) * (BYTES[spec.dtype] ?? 4);
    const bytes = new Uint8Array(data, offset, size);
    offset += size;
    if (spec.dtype === 'float32' && spec.quantization === undefined) {
      const halves = float32ToFloat16(new Float32Array(bytes.slice().buffer));
      parts.push(new Uint8Array(halves.buffer));
      out.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      parts.push(bytes);
      out.push(spec);
    }
  }
  return { specs: out, data: tf.io.concatenateArrayBuffers(parts.map((p) => p.slice().buffer)) };
}

/**
 * A `tf.io.IOHandler` that saves a LayersModel to `dir` as `model.json` + `weights.bin`
 * with `node:fs` (no tfjs-node), and loads it back:
 *   await model.save(fileSystemModelHandler(dir));
 *   const model = await tf.loadLayersModel(fileSystemModelHandler(dir));
 * Missing, unparsable or truncated files raise CheckpointError naming the file.
 */
export function fileSystemModelHandler(dir: string, options: ModelIOOptions = {}): tf.io.IOHandler {
  const writer = options.writer ?? fsWriter;
  const modelFile = path.join(dir, MODEL_JSON);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer)
        throw new Error('fileSystemModelHandler saves JSON topologies (LayersModel) only');
      let specs = artifacts.weightSpecs ?? [];
      let data = artifacts.weightData === undefined ? new ArrayBuffer(0) : new tf.io.CompositeArrayBuffer(artifacts.weightData).slice();
      if (options.weightDtype === 'float16') ({ specs, data } = toFloat16(specs, data));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: specs }],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_core}`,
        convertedBy: artifacts.convertedBy ?? null,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      await writer.writeFile(path.join(dir, WEIGHTS_BIN), new Uint8Array(data));
      await writer.writeFile(modelFile, JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(modelJson.modelTopology).length,
          weightSpecsBytes: JSON.stringify(specs).length,
          weightDataBytes: data.byteLength,
        },
      };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const json = await readCheckpointJson(modelFile);
      if (!isRecord(json) || !isRecord(json.modelTopology) || !Array.isArray(json.weightsManifest)) {
        throw new CheckpointError(modelFile, 'Not a tfjs layers model.json (needs modelTopology and weightsManifest)');
      }
      const manifest = json as unknown as tf.io.ModelJSON;
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of manifest.weightsManifest) {
        const groupBytes = group.weights.reduce((sum, spec) => sum + storedBytes(spec, modelFile), 0);
        const chunks: Uint8Array[] = [];
        for (const relative of group.paths) {
          const file = path.resolve(dir, relative);
          if (path.relative(dir, file).startsWith('..'))
            throw new CheckpointError(modelFile, `Weight path escapes the model folder: ${relative}`);
          chunks.push(await readCheckpointFile(file));
        }
        const found = chunks.reduce((sum, c) => sum + c.byteLength, 0);
        if (found !== groupBytes) {
          const last = path.resolve(dir, group.paths[group.paths.length - 1] ?? WEIGHTS_BIN);
          throw new CheckpointError(
            last,
            `Weights are ${found < groupBytes ? 'truncated' : 'too long'}: expected ${groupBytes} bytes, found ${found}`,
          );
        }
        specs.push(...group.weights);
        for (const c of chunks) buffers.push(c.slice().buffer);
      }
      return {
        modelTopology: manifest.modelTopology,
        weightSpecs: specs,
        weightData: tf.io.concatenateArrayBuffers(buffers),
        format: manifest.format,
        generatedBy: manifest.generatedBy,
        convertedBy: manifest.convertedBy,
        ...(manifest.trainingConfig ? { trainingConfig: manifest.trainingConfig } : {}),
        ...(manifest.userDefinedMetadata ? { userDefinedMetadata: manifest.userDefinedMetadata } : {}),
      };
    },
  };
}
