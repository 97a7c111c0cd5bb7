import * as k from '@tensorflow/tfjs-core';
import { backend_util, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';
import { input, tapeRecording, toNchw, toNhwc, torchKernel } from './kernel.js';

type Conv2DInfo = backend_util.Conv2DInfo;

/**
 * Batch norm with given statistics of a channels-last tensor (channels on the last axis, per
 * channel [C] parameters) in one pass: ATen's native_batch_norm in inference mode on a view
 * with the channels moved to axis 1, which it reads as channels_last. The op-by-op form
 * ((x − mean)·rsqrt(var + ε)·scale + offset) makes four full-size passes.
 */
function channelsLastBatchNorm(b: TorchBackend, x: TensorInfo, inputs: k.NamedTensorInfoMap, epsilon: number): number {
  const rank = x.shape.length;
  const toChannelsFirst = [0, rank - 1, ...Array.from({ length: rank - 2 }, (_, i) => i + 1)];
  const toChannelsLast = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
  const view = b.callTensor('aten::permute', [b.id(x), toChannelsFirst]);
  const optional = (t: TensorInfo | undefined) => (t === undefined ? null : b.id(t));
  const [y, savedMean, savedInvstd] = b.call('aten::native_batch_norm', [
    view,
    optional(inputs.scale),
    optional(inputs.offset),
    b.id(input(inputs, 'mean')),
    b.id(input(inputs, 'variance')),
    false,
    0,
    epsilon,
  ]) as [number, number, number];
  const out = b.callTensor('aten::permute', [y, toChannelsLast]);
  b.free(view, y, savedMean, savedInvstd);
  return out;
}

export interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * ATen pads convolutions symmetrically. tfjs's 'same' padding with stride 2 is not (one more
 * row/column at the bottom/right): that extra goes in an explicit pad of x first.
 */
interface ConvGeometry {
  readonly stride: [number, number];
  readonly dilation: [number, number];
  readonly padding: [number, number];
  /** Extra NHWC padding [top, bottom, left, right] to add to x, or undefined. */
  readonly extra: [number, number, number, number] | undefined;
}

function geometryOf(info: Conv2DInfo): ConvGeometry {
  const { top, bottom, left, right } = info.padInfo;
  const padH = Math.min(top, bottom);
  const padW = Math.min(left, right);
  const extra: [number, number, number, number] = [top - padH, bottom - padH, left - padW, right - padW];
  return {
    stride: [info.strideHeight, info.strideWidth],
    dilation: [info.dilationHeight, info.dilationWidth],
    padding: [padH, padW],
    extra: extra.some((p) => p !== 0) ? extra : undefined,
  };
}

function convInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs): Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
}

/** aten::constant_pad_nd's list for the asymmetric part of a convolution's padding. */
function padList([top, bottom, left, right]: NonNullable<ConvGeometry['extra']>, nhwc: boolean): number[] {
  return nhwc ? [0, 0, left, right, top, bottom] : [left, right, top, bottom];
}

/**
 * x with the asymmetric part of its padding added (a new addon id): on the CPU, an NHWC x by the
 * addon's row copy (`padNhwc`, 1.5–1.9× faster than aten::constant_pad_nd there in a scratch timing, which a stride-2
 * 'same' convolution runs on every input); otherwise aten::constant_pad_nd.
 */
function withExtraPadding(b: TorchBackend, x: number, extra: NonNullable<ConvGeometry['extra']>, nhwc: boolean): number {
  if (nhwc && b.device === 'cpu') return b.native.padNhwc(x, extra);
  return b.callTensor('aten::constant_pad_nd', [x, padList(extra, nhwc), 0]);
}

/** An addon tensor in the kernel's data format as ATen wants it: NCHW (a view of NHWC, no copy). The caller frees both ids. */
function atenView(b: TorchBackend, x: number, nhwc: boolean): number {
  return nhwc ? toNchw(b, x) : b.callTensor('aten::alias', [x]);
}

/** The key under which a convolution keeps its padded input (`TorchBackend.keepPadded`). */
function paddedKey(extra: NonNullable<ConvGeometry['extra']>, nhwc: boolean): string {
  return padList(extra, nhwc).join();
}

/**
 * x as ATen wants it, with any asymmetric padding already applied. The caller frees the
 * returned id. `keep` receives the padded tensor (not freed by it) before it is viewed.
 */
function atenInput(b: TorchBackend, x: number, nhwc: boolean, extra: ConvGeometry['extra'], keep?: (padded: number) => void): number {
  if (extra === undefined) return atenView(b, x, nhwc);
  const padded = withExtraPadding(b, x, extra, nhwc);
  keep?.(padded);
  const view = atenView(b, padded, nhwc);
  b.free(padded);
  return view;
}

/**
 * A forward convolution's input as ATen wants it. While a gradient tape records, a padded copy
 * stays with x's data until the filter gradient takes it, instead of padding x again (on the small
 * energy net, whose four convolutions all have stride 2, padding took 5 % of a training step).
 */
function forwardInput(b: TorchBackend, x: TensorInfo, nhwc: boolean, extra: ConvGeometry['extra']): number {
  const recording = extra !== undefined && tapeRecording();
  const keep = recording ? (padded: number) => b.keepPadded(x, paddedKey(extra, nhwc), b.callTensor('aten::alias', [padded])) : undefined;
  return atenInput(b, b.id(x), nhwc, extra, keep);
}

/** tfjs filter [kh, kw, in, out] → ATen weight [out, in, kh, kw] (a view). */
function atenWeight(b: TorchBackend, filter: number): number {
  return b.callTensor('aten::permute', [filter, [3, 2, 0, 1]]);
}

/** An ATen NCHW result as a tfjs tensor in the kernel's data format. */
function fromAten(b: TorchBackend, id: number, nhwc: boolean): TensorInfo {
  if (!nhwc) return b.output(id, 'float32');
  const view = toNhwc(b, id);
  b.free(id);
  return b.output(view, 'float32');
}

/** Applies a fused activation in place of its tensor id (frees the input id). */
function activate(
  b: TorchBackend,
  id: number,
  activation: string | undefined,
  alpha: number | undefined,
  prelu: TensorInfo | undefined,
): number {
  let out: number;
  switch (activation ?? 'linear') {
    case 'linear':
      return id;
    case 'relu':
      out = b.callTensor('aten::relu', [id]);
      break;
    case 'relu6':
      out = b.callTensor('aten::hardtanh', [id, 0, 6]);
      break;
    case 'elu':
      out = b.callTensor('aten::elu', [id]);
      break;
    case 'sigmoid':
      out = b.callTensor('aten::sigmoid', [id]);
      break;
    case 'leakyrelu':
      out = b.callTensor('aten::leaky_relu', [id, alpha ?? 0.2]);
      break;
    case 'prelu': {
      if (prelu === undefined) throw new Error('@lab/backend-torch: prelu activation without preluActivationWeights');
      const scaled = b.callTensor('aten::mul.Tensor', [id, b.id(prelu)]);
      const negative = b.callTensor('aten::lt.Scalar', [id, 0]);
      out = b.callTensor('aten::where.self', [negative, scaled, id]);
      b.free(scaled, negative);
      break;
    }
    default:
      throw new Error(`@lab/backend-torch: fused activation '${activation}' is not supported`);
  }
  b.free(id);
  return out;
}

/** Adds a bias that is not a per-channel vector ATen's convolution could take (frees `id`). */
function addBias(b: TorchBackend, id: number, bias: TensorInfo | undefined): number {
  if (bias === undefined) return id;
  const out = b.callTensor('aten::add.Tensor', [id, b.id(bias)]);
  b.free(id);
  return out;
}

export function conv2d(b: TorchBackend, x: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined, attrs: ConvAttrs): TensorInfo {
  const nhwc = attrs.dataFormat !== 'NCHW';
  const info = convInfo(x.shape, filter.shape, attrs);
  const geometry = geometryOf(info);
  const channelBias = bias !== undefined && bias.shape.length === 1 && bias.shape[0] === info.outChannels;
  const xAten = forwardInput(b, x, nhwc, geometry.extra);
  const weight = atenWeight(b, b.id(filter));
  const out = b.callTensor('aten::convolution', [
    xAten,
    weight,
    channelBias ? b.id(bias) : null,
    geometry.stride,
    geometry.padding,
    geometry.dilation,
    false,
    [0, 0],
    1,
  ]);
  b.free(xAten, weight);
  const result = fromAten(b, out, nhwc);
  if (bias === undefined || channelBias) return result;
  const withBias = addBias(b, b.callTensor('aten::alias', [b.id(result)]), bias);
  b.disposeIntermediateTensorInfo(result);
  return b.output(withBias, 'float32');
}

/** `aten::convolution_backward` for one of its gradients: index 0 (input) or 1 (weight). */
function convolutionGradient(
  b: TorchBackend,
  which: 0 | 1,
  [gradOutput, input, weight]: [number, number, number],
  geometry: ConvGeometry,
): number {
  const outputs = b.call('aten::convolution_backward', [
    gradOutput,
    input,
    weight,
    null,
    geometry.stride,
    geometry.padding,
    geometry.dilation,
    false,
    [0, 0],
    1,
    [which === 0, which === 1, false],
  ]) as Array<number | null>;
  return outputs[which] as number;
}

/**
 * The input gradient, deferred (`TorchBackend.deferredOutput`): computed only when read, so the
 * first layer's, which tfjs's fused convolution gradient asks for and nothing reads, costs nothing.
 */
export function conv2dBackpropInput(
  b: TorchBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: number[],
  attrs: ConvAttrs,
): TensorInfo {
  const holds = [b.callTensor('aten::alias', [b.id(dy)]), b.callTensor('aten::alias', [b.id(filter)])];
  return b.deferredOutput([...inputShape], holds, ([dyId, filterId]) =>
    inputGradient(b, dyId as number, filterId as number, filter.shape, inputShape, attrs),
  );
}

/** The input gradient as an addon id in the kernel's data format (dy, filter: addon ids, not freed). */
function inputGradient(b: TorchBackend, dy: number, filter: number, filterShape: number[], inputShape: number[], attrs: ConvAttrs): number {
  const nhwc = attrs.dataFormat !== 'NCHW';
  const info = convInfo(inputShape, filterShape, attrs);
  const geometry = geometryOf(info);
  const [top, bottom, left, right] = geometry.extra ?? [0, 0, 0, 0];
  const [batch, channels, height, width] = [info.batchSize, info.inChannels, info.inHeight + top + bottom, info.inWidth + left + right];
  // convolution_backward reads only the input's shape and layout for the data gradient.
  const shapeOnly = b.callTensor('aten::empty.memory_format', [
    [batch, channels, height, width],
    'float32',
    null,
    b.device,
    null,
    nhwc ? 'channels_last' : 'contiguous',
  ]);
  const dyAten = atenView(b, dy, nhwc);
  const weight = atenWeight(b, filter);
  const dx = convolutionGradient(b, 0, [dyAten, shapeOnly, weight], geometry);
  b.free(shapeOnly, dyAten, weight);
  let result = dx;
  if (geometry.extra !== undefined) {
    const rows = b.callTensor('aten::slice.Tensor', [result, 2, top, top + info.inHeight, 1]);
    const cols = b.callTensor('aten::slice.Tensor', [rows, 3, left, left + info.inWidth, 1]);
    b.free(result, rows);
    result = cols;
  }
  if (!nhwc) return result;
  const view = toNhwc(b, result);
  b.free(result);
  return view;
}

/**
 * The filter gradient, deferred like the input gradient: a gradient taken with respect to the
 * input alone (Langevin sampling, an energy's score) still runs tfjs's fused convolution
 * gradient, which computes every layer's filter gradient and reads none of them.
 */
export function conv2dBackpropFilter(b: TorchBackend, x: TensorInfo, dy: TensorInfo, filterShape: number[], attrs: ConvAttrs): TensorInfo {
  const extra = geometryOf(convInfo(x.shape, filterShape, attrs)).extra;
  const padded = extra === undefined ? undefined : b.takePadded(x, paddedKey(extra, attrs.dataFormat !== 'NCHW'));
  const holds = [padded ?? b.callTensor('aten::alias', [b.id(x)]), b.callTensor('aten::alias', [b.id(dy)])];
  return b.deferredOutput([...filterShape], holds, ([xId, dyId]) =>
    filterGradient(b, xId as number, dyId as number, x.shape, filterShape, attrs, padded !== undefined),
  );
}

/**
 * The filter gradient as an addon id in tfjs's layout [kh, kw, in, out] (x, dy: addon ids, not
 * freed; `prepadded`: x already carries the asymmetric padding).
 */
function filterGradient(
  b: TorchBackend,
  x: number,
  dy: number,
  xShape: number[],
  filterShape: number[],
  attrs: ConvAttrs,
  prepadded: boolean,
): number {
  const nhwc = attrs.dataFormat !== 'NCHW';
  const geometry = geometryOf(convInfo(xShape, filterShape, attrs));
  const xAten = atenInput(b, x, nhwc, prepadded ? undefined : geometry.extra);
  const dyAten = atenView(b, dy, nhwc);
  const [kh, kw, inChannels, outChannels] = filterShape as [number, number, number, number];
  // Only the weight's shape is read for the filter gradient.
  const shapeOnly = b.callTensor('aten::empty.memory_format', [[outChannels, inChannels, kh, kw], 'float32', null, b.device, null, null]);
  const dw = convolutionGradient(b, 1, [dyAten, xAten, shapeOnly], geometry);
  b.free(xAten, dyAten, shapeOnly);
  const out = b.callTensor('aten::permute', [dw, [2, 3, 1, 0]]);
  b.free(dw);
  return out;
}

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function poolGeometry(kernelName: string, xShape: number[], attrs: PoolAttrs) {
  const info = backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const geometry = geometryOf(info);
  if (geometry.extra !== undefined)
    throw new Error(`@lab/backend-torch: ${kernelName} with asymmetric padding (${JSON.stringify(info.padInfo)}) is not supported`);
  if (typeof attrs.pad === 'number' && attrs.dimRoundingMode !== undefined && attrs.dimRoundingMode !== 'floor')
    throw new Error(`@lab/backend-torch: ${kernelName} with dimRoundingMode '${attrs.dimRoundingMode}' is not supported`);
  return { kernel: [info.filterHeight, info.filterWidth], stride: geometry.stride, padding: geometry.padding };
}

interface ResizeAttrs {
  alignCorners: boolean;
  halfPixelCenters: boolean;
  size: [number, number];
}

/** ATen's resize operators for tfjs's corner conventions; tfjs's others have no ATen twin. */
function resizeOperator(kernelName: string, bilinear: boolean, attrs: ResizeAttrs): { operator: string; alignCorners?: boolean } {
  if (bilinear) {
    if (attrs.alignCorners) return { operator: 'aten::upsample_bilinear2d', alignCorners: true };
    if (attrs.halfPixelCenters) return { operator: 'aten::upsample_bilinear2d', alignCorners: false };
  } else if (!attrs.alignCorners) {
    return { operator: attrs.halfPixelCenters ? 'aten::_upsample_nearest_exact2d' : 'aten::upsample_nearest2d' };
  }
  throw new Error(
    `@lab/backend-torch: ${kernelName} with alignCorners=${attrs.alignCorners}, halfPixelCenters=${attrs.halfPixelCenters} is not supported`,
  );
}

function resize(b: TorchBackend, kernelName: string, bilinear: boolean, images: TensorInfo, attrs: ResizeAttrs): TensorInfo {
  const { operator, alignCorners } = resizeOperator(kernelName, bilinear, attrs);
  const x = toNchw(b, b.id(images));
  const out = b.callTensor(operator, alignCorners === undefined ? [x, attrs.size, null, null] : [x, attrs.size, alignCorners, null, null]);
  b.free(x);
  return fromAten(b, out, true);
}

function resizeGrad(
  b: TorchBackend,
  kernelName: string,
  bilinear: boolean,
  images: TensorInfo,
  dy: TensorInfo,
  attrs: ResizeAttrs,
): TensorInfo {
  const { operator, alignCorners } = resizeOperator(kernelName, bilinear, attrs);
  const [batch, height, width, channels] = images.shape as [number, number, number, number];
  const grad = toNchw(b, b.id(dy));
  const outSize = [dy.shape[1] as number, dy.shape[2] as number];
  const inSize = [batch, channels, height, width];
  const out = b.callTensor(
    `${operator}_backward`,
    alignCorners === undefined ? [grad, outSize, inSize, null, null] : [grad, outSize, inSize, alignCorners, null, null],
  );
  b.free(grad);
  return fromAten(b, out, true);
}

function matmul(b: TorchBackend, a: TensorInfo, bTensor: TensorInfo, transposeA: boolean, transposeB: boolean): number {
  const left = transposeA ? b.callTensor('aten::transpose.int', [b.id(a), -2, -1]) : b.callTensor('aten::alias', [b.id(a)]);
  const right = transposeB ? b.callTensor('aten::transpose.int', [b.id(bTensor), -2, -1]) : b.callTensor('aten::alias', [b.id(bTensor)]);
  const out = b.callTensor('aten::matmul', [left, right]);
  b.free(left, right);
  return out;
}

export const nnKernels: KernelConfig[] = [
  torchKernel(k.Conv2D, (b, inputs, attrs) =>
    conv2d(b, input(inputs, 'x'), input(inputs, 'filter'), undefined, attrs as unknown as ConvAttrs),
  ),
  torchKernel(k.FusedConv2D, (b, inputs, attrs) => {
    const a = attrs as unknown as k.FusedConv2DAttrs;
    const conv = conv2d(b, input(inputs, 'x'), input(inputs, 'filter'), inputs.bias, a);
    if ((a.activation ?? 'linear') === 'linear') return conv;
    const view = b.callTensor('aten::alias', [b.id(conv)]);
    b.disposeIntermediateTensorInfo(conv);
    return b.output(activate(b, view, a.activation, a.leakyreluAlpha, inputs.preluActivationWeights), 'float32');
  }),
  torchKernel(k.Conv2DBackpropInput, (b, inputs, attrs) => {
    const a = attrs as unknown as k.Conv2DBackpropInputAttrs;
    return conv2dBackpropInput(b, input(inputs, 'dy'), input(inputs, 'filter'), a.inputShape, { ...a, dilations: 1 });
  }),
  torchKernel(k.Conv2DBackpropFilter, (b, inputs, attrs) => {
    const a = attrs as unknown as k.Conv2DBackpropFilterAttrs;
    return conv2dBackpropFilter(b, input(inputs, 'x'), input(inputs, 'dy'), a.filterShape, { ...a, dilations: 1 });
  }),
  torchKernel(k.AvgPool, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { kernel, stride, padding } = poolGeometry(k.AvgPool, x.shape, attrs as unknown as PoolAttrs);
    const view = toNchw(b, b.id(x));
    // Padded cells are not counted (TensorFlow's semantics), hence count_include_pad = false.
    const out = b.callTensor('aten::avg_pool2d', [view, kernel, stride, padding, false, false, null]);
    b.free(view);
    return fromAten(b, out, true);
  }),
  torchKernel(k.AvgPoolGrad, (b, inputs, attrs) => {
    const x = input(inputs, 'input');
    const { kernel, stride, padding } = poolGeometry(k.AvgPoolGrad, x.shape, attrs as unknown as PoolAttrs);
    const grad = toNchw(b, b.id(input(inputs, 'dy')));
    const view = toNchw(b, b.id(x));
    const out = b.callTensor('aten::avg_pool2d_backward', [grad, view, kernel, stride, padding, false, false, null]);
    b.free(grad, view);
    return fromAten(b, out, true);
  }),
  torchKernel(k.MaxPool, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { kernel, stride, padding } = poolGeometry(k.MaxPool, x.shape, attrs as unknown as PoolAttrs);
    const view = toNchw(b, b.id(x));
    const out = b.callTensor('aten::max_pool2d', [view, kernel, stride, padding, [1, 1], false]);
    b.free(view);
    return fromAten(b, out, true);
  }),
  torchKernel(k.MaxPoolGrad, (b, inputs, attrs) => {
    const x = input(inputs, 'input');
    const { kernel, stride, padding } = poolGeometry(k.MaxPoolGrad, x.shape, attrs as unknown as PoolAttrs);
    const view = toNchw(b, b.id(x));
    const [pooled, indices] = b.call('aten::max_pool2d_with_indices', [view, kernel, stride, padding, [1, 1], false]) as [number, number];
    const grad = toNchw(b, b.id(input(inputs, 'dy')));
    const out = b.callTensor('aten::max_pool2d_with_indices_backward', [grad, view, kernel, stride, padding, [1, 1], false, indices]);
    b.free(view, pooled, indices, grad);
    return fromAten(b, out, true);
  }),
  torchKernel(k.ResizeNearestNeighbor, (b, inputs, attrs) =>
    resize(b, k.ResizeNearestNeighbor, false, input(inputs, 'images'), attrs as unknown as ResizeAttrs),
  ),
  torchKernel(k.ResizeNearestNeighborGrad, (b, inputs, attrs) =>
    resizeGrad(b, k.ResizeNearestNeighborGrad, false, input(inputs, 'images'), input(inputs, 'dy'), attrs as unknown as ResizeAttrs),
  ),
  torchKernel(k.ResizeBilinear, (b, inputs, attrs) =>
    resize(b, k.ResizeBilinear, true, input(inputs, 'images'), attrs as unknown as ResizeAttrs),
  ),
  torchKernel(k.ResizeBilinearGrad, (b, inputs, attrs) =>
    resizeGrad(b, k.ResizeBilinearGrad, true, input(inputs, 'images'), input(inputs, 'dy'), attrs as unknown as ResizeAttrs),
  ),
  torchKernel(k.BatchMatMul, (b, inputs, attrs) => {
    const { transposeA, transposeB } = attrs as unknown as k.BatchMatMulAttrs;
    return b.output(matmul(b, input(inputs, 'a'), input(inputs, 'b'), transposeA, transposeB), 'float32');
  }),
  torchKernel(k._FusedMatMul, (b, inputs, attrs) => {
    const a = attrs as unknown as k._FusedMatMulAttrs;
    const product = addBias(b, matmul(b, input(inputs, 'a'), input(inputs, 'b'), a.transposeA, a.transposeB), inputs.bias);
    return b.output(activate(b, product, a.activation, a.leakyreluAlpha, inputs.preluActivationWeights), 'float32');
  }),
  torchKernel(k.Softmax, (b, inputs, attrs) => {
    const logits = input(inputs, 'logits');
    const { dim } = attrs as unknown as k.SoftmaxAttrs;
    return b.output(b.callTensor('aten::_softmax', [b.id(logits), dim, false]), 'float32');
  }),
  torchKernel(k.FusedBatchNorm, (b, inputs, attrs) => {
    const { varianceEpsilon } = attrs as unknown as k.FusedBatchNormAttrs;
    const x = input(inputs, 'x');
    const params = [inputs.mean, inputs.variance, inputs.scale, inputs.offset].filter((t) => t !== undefined);
    const channels = x.shape[x.shape.length - 1];
    if (x.shape.length >= 2 && params.every((t) => t.shape.length === 1 && t.shape[0] === channels))
      return b.output(channelsLastBatchNorm(b, x, inputs, varianceEpsilon), 'float32');
    // Statistics of another shape (tfjs broadcasts them): the same arithmetic, op by op.
    const centred = b.callTensor('aten::sub.Tensor', [b.id(x), b.id(input(inputs, 'mean'))]);
    const shifted = b.callTensor('aten::add.Scalar', [b.id(input(inputs, 'variance')), varianceEpsilon]);
    const inverse = b.callTensor('aten::rsqrt', [shifted]);
    let out = b.callTensor('aten::mul.Tensor', [centred, inverse]);
    b.free(centred, shifted, inverse);
    if (inputs.scale !== undefined) {
      const scaled = b.callTensor('aten::mul.Tensor', [out, b.id(inputs.scale)]);
      b.free(out);
      out = scaled;
    }
    return b.output(addBias(b, out, inputs.offset), 'float32');
  }),
];
