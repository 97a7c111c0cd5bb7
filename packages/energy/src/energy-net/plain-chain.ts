import { CONV2D_BIAS_ACTIVATION_KERNEL, conv2dBiasActivation, denseBiasActivation, hasFusedKernel, type LayerActivation } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** One step of a plain chain: a layer with its bias and activation, or a flatten. */
type ChainStep =
  | {
      readonly kind: 'conv';
      readonly layer: WeightedLayer;
      readonly strides: [number, number];
      readonly pad: 'same' | 'valid';
      activation: LayerActivation;
    }
  | { readonly kind: 'dense'; readonly layer: WeightedLayer; activation: LayerActivation }
  | { readonly kind: 'flatten' };

/** What a tfjs-layers Conv2D or Dense holds (not in its public types). */
interface WeightedLayer extends tfl.layers.Layer {
  readonly kernel: { read(): tf.Tensor };
  readonly bias: { read(): tf.Tensor } | null;
}

interface LayerInternals {
  readonly inboundNodes: ReadonlyArray<{ readonly inboundLayers: readonly tfl.layers.Layer[] }>;
}

const chains = new WeakMap<tfl.LayersModel, readonly ChainStep[] | null>();

/**
 * The model as a chain of fused layer ops, when it is one: a single input, then Conv2D layers
 * (each optionally followed by a `Silu` layer), a Flatten, and Dense layers (likewise), each layer
 * feeding only the next, convolutions channels-last with biases, no dilation and no activation of
 * their own. `createEnergyNet('small')` builds such a chain; residual and spectrally normalised
 * nets do not qualify. Read once per model.
 */
function plainChainOf(model: tfl.LayersModel): readonly ChainStep[] | null {
  let chain = chains.get(model);
  if (chain === undefined) {
    chain = readChain(model);
    chains.set(model, chain);
  }
  return chain;
}

function readChain(model: tfl.LayersModel): ChainStep[] | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const [inputLayer, ...layers] = model.layers;
  if (inputLayer?.getClassName() !== 'InputLayer') return null;
  const steps: ChainStep[] = [];
  let previous: tfl.layers.Layer = inputLayer;
  for (const layer of layers) {
    const inbound = (layer as unknown as LayerInternals).inboundNodes;
    if (inbound.length !== 1 || inbound[0]?.inboundLayers.length !== 1 || inbound[0].inboundLayers[0] !== previous) return null;
    previous = layer;
    const config = layer.getConfig() as Record<string, unknown>;
    const last = steps[steps.length - 1];
    switch (layer.getClassName()) {
      case 'Silu':
        if (last === undefined || last.kind === 'flatten' || last.activation !== 'linear') return null;
        last.activation = 'silu';
        break;
      case 'Flatten':
        if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') return null;
        steps.push({ kind: 'flatten' });
        break;
      case 'Conv2D': {
        const dilation = config.dilationRate as number | number[];
        const strides = config.strides as number[];
        const padding = config.padding;
        if (config.activation !== 'linear' || !config.useBias || config.dataFormat !== 'channelsLast') return null;
        if ([dilation].flat().some((d) => d !== 1) || (padding !== 'same' && padding !== 'valid')) return null;
        steps.push({
          kind: 'conv',
          layer: layer as WeightedLayer,
          strides: [strides[0] as number, strides[1] as number],
          pad: padding,
          activation: 'linear',
        });
        break;
      }
      case 'Dense':
        if (config.activation !== 'linear' || !config.useBias) return null;
        steps.push({ kind: 'dense', layer: layer as WeightedLayer, activation: 'linear' });
        break;
      default:
        return null;
    }
  }
  return previous === model.layers[model.layers.length - 1] ? steps : null;
}

/** Whether x has the model's input shape (any batch). */
function fitsInput(model: tfl.LayersModel, x: tf.Tensor): boolean {
  const expected = model.inputs[0]?.shape ?? [];
  return x.rank === expected.length && expected.every((size, axis) => size === null || size === x.shape[axis]);
}

/**
 * `model.apply(x)` for a plain chain on a backend with fused layer kernels (LibTorch): each
 * convolution or dense layer with its bias and SiLU in one kernel forward and one backward, the
 * same function and weights. On the small energy net a training step records ~50 tfjs kernels
 * instead of ~110, and tfjs's per-kernel cost is most of what separates it from PyTorch there.
 * Any other model or backend: `model.apply` itself.
 */
export function applyEnergyNet(model: tfl.LayersModel, x: tf.Tensor, kwargs: { training: boolean }): tf.Tensor {
  const chain = hasFusedKernel(CONV2D_BIAS_ACTIVATION_KERNEL) ? plainChainOf(model) : null;
  // An input of the wrong shape goes to tfjs-layers too, for its error message.
  if (chain === null || !fitsInput(model, x)) return model.apply(x, kwargs) as tf.Tensor;
  return tf.tidy(() => {
    let h = x;
    for (const step of chain) {
      if (step.kind === 'flatten') {
        h = tf.reshape(h, [h.shape[0] as number, -1]);
        continue;
      }
      const kernel = step.layer.kernel.read();
      const bias = step.layer.bias?.read() as tf.Tensor1D;
      h =
        step.kind === 'conv'
          ? conv2dBiasActivation(h as tf.Tensor4D, kernel as tf.Tensor4D, bias, step)
          : denseBiasActivation(h as tf.Tensor2D, kernel as tf.Tensor2D, bias, step.activation);
    }
    return h;
  });
}
