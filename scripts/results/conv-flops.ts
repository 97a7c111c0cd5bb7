/**
 * Convolution FLOPs per image of a UNet preset's forward pass, counted from the shapes of every
 * FusedConv2D / Conv2D call in a tf.profile of one batch-16 forward pass, and the rate those
 * kernels ran at on the active backend (bench/README.md quotes it).
 *
 *   node --conditions=@lab/source --import tsx scripts/results/conv-flops.ts [tiny|small]
 */
import { initBackend, silentLogger } from '@lab/core';
import { createUNet } from '@lab/unet';
import * as tf from '@tensorflow/tfjs-core';

const preset = (process.argv[2] ?? 'small') as 'tiny' | 'small';
const backend = await initBackend({ logger: silentLogger });
const unet = createUNet({ preset });
const batch = 16;
const inputs = [tf.randomNormal([batch, 32, 32, 3]), tf.randomUniform([batch], 0, 999)];
const forward = async () => {
  const out = unet.apply(inputs, { training: false }) as tf.Tensor;
  await out.data();
  out.dispose();
};
await forward(); // warm-up
const info = await tf.profile(forward);
let flops = 0;
let ms = 0;
for (const kernel of info.kernels) {
  if (kernel.name !== 'FusedConv2D' && kernel.name !== 'Conv2D') continue;
  const filter = kernel.inputShapes[1] as number[];
  const out = kernel.outputShapes[0] as number[];
  // 2 FLOPs per multiply-add: every output element sums kh·kw·Cin products.
  flops += 2 * out.reduce((a, b) => a * b, 1) * (filter[0] as number) * (filter[1] as number) * (filter[2] as number);
  ms += kernel.kernelTimeMs as number;
}
console.log(
  `UNet ${preset} forward: ${(flops / batch / 1e9).toFixed(3)} GFLOP of convolutions per image; ` +
    `${backend.name} ran them at ${(flops / ms / 1e6).toFixed(1)} GFLOP/s (batch ${batch})`,
);
tf.dispose(inputs);
