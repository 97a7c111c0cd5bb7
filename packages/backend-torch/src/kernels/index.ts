import type { KernelConfig } from '@tensorflow/tfjs-core';
import { binaryKernels } from './binary.js';
import { fusedLayerKernels } from './fused-layers.js';
import { nnKernels } from './nn.js';
import { normalizationKernels } from './normalization.js';
import { optimizerKernels } from './optimizer.js';
import { randomKernels } from './random.js';
import { reduceKernels } from './reduce.js';
import { shapeKernels } from './shape.js';
import { unaryKernels } from './unary.js';

/** Every kernel the torch backend has; any other kernel fails with tfjs's "not registered" error naming it. */
export const torchKernels: readonly KernelConfig[] = [
  ...unaryKernels,
  ...binaryKernels,
  ...reduceKernels,
  ...shapeKernels,
  ...nnKernels,
  ...fusedLayerKernels,
  ...normalizationKernels,
  ...optimizerKernels,
  ...randomKernels,
];

export { TORCH } from './kernel.js';
