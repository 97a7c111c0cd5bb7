import * as tf from '@tensorflow/tfjs-core';
import { fusedLayerKernels } from '../../packages/backend-torch/src/kernels/fused-layers.js';

/**
 * Registers (on) or unregisters (off) the torch backend's fused layer kernels, for A/B benches:
 * without them `@lab/core`'s layer ops and the energy net take their tfjs-layers path.
 */
export function useFusedLayerKernels(on: boolean): void {
  for (const config of fusedLayerKernels) {
    const registered = tf.getKernel(config.kernelName, config.backendName) !== undefined;
    if (on && !registered) tf.registerKernel(config);
    if (!on && registered) tf.unregisterKernel(config.kernelName, config.backendName);
  }
}
