import {
  BatchMatMul,
  backend_util,
  Conv2D,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type KernelBackend,
  type KernelFunc,
  type NamedAttrMap,
  Reshape,
  Slice,
  type TensorInfo,
  Transpose,
} from '@tensorflow/tfjs-core';
import { withKernelScope } from './kernel-scope.js';

/**
 * The filter gradient of an NHWC conv2d, computed as one forward `Conv2D` (XNNPACK on wasm,
 * im2col-free on cpu) instead of tfjs's scalar loops:
 *
 *   dW[kh,kw,ci,co] = Σ_{b,ho,wo} x[b, ho·s + kh − padTop, wo·s + kw − padLeft, ci] · dy[b,ho,wo,co]
 *
 * which is a stride-1 convolution of x' = x transposed to [Ci,H,W,B] (batch ↔ channels)
 * with dy' = dy transposed to [Ho,Wo,B,Co] used as the filter, dilated by the forward
 * stride and padded like the forward conv; its [Ci, ≥kh, ≥kw, Co] output is sliced to
 * kh×kw and transposed to [kh,kw,Ci,Co]. A 1×1 stride-1 unpadded conv is one matmul
 * xᵀ·dy over all pixels.
 *
 * `fallback` handles what this route does not (NCHW); without one such input throws.
 */
export function createConv2DBackpropFilter(backendName: string, fallback?: KernelFunc): KernelFunc {
  return (args) => {
    const backend = args.backend as KernelBackend;
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat !== 'NHWC') {
      if (fallback) return fallback(args);
      throw new Error(`Conv2DBackpropFilter on '${backendName}' supports only NHWC, got ${attrs.dataFormat}`);
    }
    const [batch, inHeight, inWidth, inChannels] = x.shape as [number, number, number, number];
    const [filterHeight, filterWidth, , outChannels] = attrs.filterShape;
    const info = backend_util.computeConv2DInfo(
      [batch, inHeight, inWidth, inChannels],
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const { top, left } = info.padInfo;
    const { strideHeight, strideWidth, outHeight, outWidth } = info;
    const isPointwise =
      filterHeight === 1 &&
      filterWidth === 1 &&
      strideHeight === 1 &&
      strideWidth === 1 &&
      top === 0 &&
      left === 0 &&
      info.padInfo.bottom === 0 &&
      info.padInfo.right === 0;

    return withKernelScope(backend, backendName, (scope) => {
      if (isPointwise) {
        const pixels = batch * inHeight * inWidth;
        // Transpose explicitly: wasm's matmul with transposeA runs ~9× slower than without.
        const x2 = scope.run(Reshape, { x }, { shape: [pixels, inChannels] });
        const xT = scope.run(Transpose, { x: x2 }, { perm: [1, 0] });
        const xT3 = scope.run(Reshape, { x: xT }, { shape: [1, inChannels, pixels] });
        const dy3 = scope.run(Reshape, { x: dy }, { shape: [1, pixels, outChannels] });
        const product = scope.run(BatchMatMul, { a: xT3, b: dy3 }, { transposeA: false, transposeB: false });
        return scope.run(Reshape, { x: product }, { shape: [1, 1, inChannels, outChannels] });
      }

      // Pad the far edges only as much as needed for a kh×kw output (never negative).
      const bottom = Math.max(0, filterHeight + (outHeight - 1) * strideHeight - inHeight - top);
      const right = Math.max(0, filterWidth + (outWidth - 1) * strideWidth - inWidth - left);
      const xT = scope.run(Transpose, { x }, { perm: [3, 1, 2, 0] });
      const dyT = scope.run(Transpose, { x: dy }, { perm: [1, 2, 0, 3] });
      const convAttrs: Conv2DAttrs = {
        strides: [1, 1],
        dilations: [strideHeight, strideWidth],
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      };
      const conv = scope.run(Conv2D, { x: xT, filter: dyT }, convAttrs as unknown as NamedAttrMap);
      const [, convHeight, convWidth] = conv.shape as [number, number, number, number];
      const cropped =
        convHeight === filterHeight && convWidth === filterWidth
          ? conv
          : scope.run(Slice, { x: conv }, { begin: [0, 0, 0, 0], size: [inChannels, filterHeight, filterWidth, outChannels] });
      return scope.run(Transpose, { x: cropped }, { perm: [1, 2, 0, 3] });
    });
  };
}
