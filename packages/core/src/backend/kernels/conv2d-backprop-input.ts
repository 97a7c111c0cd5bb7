import {
  backend_util,
  Conv2D,
  type Conv2DAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelFunc,
  type NamedAttrMap,
  PadV2,
  Reshape,
  Reverse,
  Slice,
  type TensorInfo,
  Transpose,
} from '@tensorflow/tfjs-core';
import { withKernelScope } from './kernel-scope.js';

/**
 * The input gradient of an NHWC conv2d as one forward `Conv2D` (XNNPACK on wasm, ~7×
 * faster than wasm's own Conv2DBackpropInput loop):
 *
 *   dx[b,h,w,ci] = Σ_{i,j,co} dy[b,ho,wo,co] · W[i,j,ci,co]  with  h = ho·s + i − padTop
 *
 * is a stride-1 correlation of dy, zero-dilated by the stride, with W flipped in space and
 * its channels swapped ([kh,kw,Co,Ci]), padded by kh−1−padTop on top (and whatever makes
 * the output H tall at the bottom). Zero-dilation is a reshape to [B,Ho,1,Wo,1,Co] padded to
 * [B,Ho,s,Wo,s,Co]. Cases it cannot express (NCHW, pads larger than the kernel) go to
 * `fallback`.
 */
export function createConv2DBackpropInput(backendName: string, fallback: KernelFunc): KernelFunc {
  return (args) => {
    const backend = args.backend as KernelBackend;
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    if (attrs.dataFormat !== 'NHWC') return fallback(args);
    const info = backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const {
      batchSize,
      inHeight,
      inWidth,
      inChannels,
      outHeight,
      outWidth,
      outChannels,
      filterHeight,
      filterWidth,
      strideHeight,
      strideWidth,
    } = info;
    const top = filterHeight - 1 - info.padInfo.top;
    const left = filterWidth - 1 - info.padInfo.left;
    if (top < 0 || left < 0) return fallback(args);

    return withKernelScope(backend, backendName, (scope) => {
      let dilated = dy;
      let rows = outHeight;
      let cols = outWidth;
      if (strideHeight > 1 || strideWidth > 1) {
        const spread = scope.run(Reshape, { x: dy }, { shape: [batchSize, outHeight, 1, outWidth, 1, outChannels] });
        const padded = scope.run(
          PadV2,
          { x: spread },
          {
            paddings: [
              [0, 0],
              [0, 0],
              [0, strideHeight - 1],
              [0, 0],
              [0, strideWidth - 1],
              [0, 0],
            ],
            constantValue: 0,
          },
        );
        rows = outHeight * strideHeight;
        cols = outWidth * strideWidth;
        dilated = scope.run(Reshape, { x: padded }, { shape: [batchSize, rows, cols, outChannels] });
      }
      // Rows needed: H + kh − 1 after padding. Trailing zero rows from the dilation count towards it.
      let bottom = inHeight + filterHeight - 1 - top - rows;
      let right = inWidth + filterWidth - 1 - left - cols;
      if (bottom < 0 || right < 0) {
        rows += Math.min(0, bottom);
        cols += Math.min(0, right);
        dilated = scope.run(Slice, { x: dilated }, { begin: [0, 0, 0, 0], size: [batchSize, rows, cols, outChannels] });
        bottom = Math.max(0, bottom);
        right = Math.max(0, right);
      }
      const flipped = scope.run(Reverse, { x: filter }, { dims: [0, 1] });
      const swapped = scope.run(Transpose, { x: flipped }, { perm: [0, 1, 3, 2] });
      const convAttrs: Conv2DAttrs = {
        strides: [1, 1],
        dilations: [1, 1],
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      };
      const dx = scope.run(Conv2D, { x: dilated, filter: swapped }, convAttrs as unknown as NamedAttrMap);
      if (dx.shape[1] !== inHeight || dx.shape[2] !== inWidth || dx.shape[3] !== inChannels) {
        throw new Error(`Conv2DBackpropInput: got [${dx.shape}], expected [${batchSize},${inHeight},${inWidth},${inChannels}]`);
      }
      return dx;
    });
  };
}
