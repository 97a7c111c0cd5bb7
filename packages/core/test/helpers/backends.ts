import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '../../src/backend/kernels/register.js';
import { prepareWasm } from '../../src/backend/wasm-setup.js';

/** Makes both `cpu` and `wasm` usable in one test file, with genlab's training kernels. */
export async function setUpCpuAndWasm(): Promise<void> {
  await prepareWasm(wasm);
  registerTrainingKernels('cpu');
  registerTrainingKernels('wasm');
  await tf.setBackend('wasm');
  await tf.setBackend('cpu');
}

export { onBackend, relativeError, seededValues } from './numeric.js';
