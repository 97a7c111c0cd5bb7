import * as k from '@tensorflow/tfjs-core';
import { type KernelConfig, slice_util, type TensorInfo, util } from '@tensorflow/tfjs-core';
import type { TorchBackend } from '../backend.js';
import { axesOf, input, inputList, torchKernel } from './kernel.js';

/** `x[begin : begin + size]` along every dim, as one chain of ATen slice views. */
function sliceView(b: TorchBackend, x: TensorInfo, begin: readonly number[], size: readonly number[]): number {
  let current = b.callTensor('aten::alias', [b.id(x)]);
  for (let dim = 0; dim < begin.length; dim++) {
    const start = begin[dim] as number;
    const length = size[dim] as number;
    if (start === 0 && length === x.shape[dim]) continue;
    const next = b.callTensor('aten::slice.Tensor', [current, dim, start, start + length, 1]);
    b.free(current);
    current = next;
  }
  return current;
}

export const shapeKernels: KernelConfig[] = [
  torchKernel(k.Reshape, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const shape = util.inferFromImplicitShape((attrs as unknown as k.ReshapeAttrs).shape, util.sizeFromShape(x.shape));
    // tfjs's gradients reshape to the shape a tensor already has (a bias's, a scalar's) a few
    // times a step: the same data, no call into LibTorch.
    if (util.arraysEqual(shape, x.shape)) return b.share(x);
    return b.output(b.callTensor('aten::reshape', [b.id(x), shape]), x.dtype);
  }),
  torchKernel(k.ExpandDims, (b, inputs, attrs) => {
    const x = input(inputs, 'input');
    const [dim] = axesOf((attrs as unknown as k.ExpandDimsAttrs).dim, x.shape.length + 1);
    return b.output(b.callTensor('aten::unsqueeze', [b.id(x), dim]), x.dtype);
  }),
  // tfjs clones every tensor it saves for a gradient through Identity: sharing the data (one
  // more reference, as tfjs-backend-cpu does) costs no call into LibTorch. Tensors are never
  // written in place, so a shared one cannot change under a holder.
  torchKernel(k.Identity, (b, inputs) => b.share(input(inputs, 'x'))),
  torchKernel(k.Cast, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { dtype } = attrs as unknown as k.CastAttrs;
    if (dtype === x.dtype) return b.share(x);
    return b.output(b.callTensor('aten::_to_copy', [b.id(x), dtype]), dtype);
  }),
  torchKernel(k.Transpose, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    return b.output(b.callTensor('aten::permute', [b.id(x), (attrs as unknown as k.TransposeAttrs).perm]), x.dtype);
  }),
  torchKernel(k.Concat, (b, inputs, attrs) => {
    const tensors = inputList(inputs);
    const first = tensors[0] as TensorInfo;
    const [axis] = axesOf((attrs as unknown as k.ConcatAttrs).axis, first.shape.length);
    const nonEmpty = tensors.filter((t) => util.sizeFromShape(t.shape) > 0);
    const parts = (nonEmpty.length > 0 ? nonEmpty : [first]).map((t) => b.id(t));
    return b.output(b.callTensor('aten::cat', [parts, axis]), first.dtype);
  }),
  torchKernel(k.Pack, (b, inputs, attrs) => {
    const tensors = inputList(inputs);
    const first = tensors[0] as TensorInfo;
    const [axis] = axesOf((attrs as unknown as k.PackAttrs).axis, first.shape.length + 1);
    return b.output(b.callTensor('aten::stack', [tensors.map((t) => b.id(t)), axis]), first.dtype);
  }),
  torchKernel(k.Unpack, (b, inputs, attrs) => {
    const x = input(inputs, 'value');
    const [axis] = axesOf((attrs as unknown as k.UnpackAttrs).axis, x.shape.length);
    const ids = b.call('aten::unbind.int', [b.id(x), axis]) as number[];
    return ids.map((id) => b.output(id, x.dtype));
  }),
  torchKernel(k.SplitV, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { numOrSizeSplits, axis } = attrs as unknown as k.SplitVAttrs;
    const [dim] = axesOf(axis, x.shape.length);
    const sizes = k.backend_util.prepareSplitSize(x as k.Tensor, numOrSizeSplits, dim as number);
    const ids = b.call('aten::split_with_sizes', [b.id(x), sizes, dim]) as number[];
    return ids.map((id) => b.output(id, x.dtype));
  }),
  torchKernel(k.Slice, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { begin, size } = attrs as unknown as k.SliceAttrs;
    const [begin_, size_] = slice_util.parseSliceParams(x as k.Tensor, begin, size) as [number[], number[]];
    slice_util.assertParamsValid(x as k.Tensor, begin_, size_);
    return b.output(sliceView(b, x, begin_, size_), x.dtype);
  }),
  torchKernel(k.StridedSlice, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const a = attrs as unknown as k.StridedSliceAttrs;
    const info = slice_util.sliceInfo(
      x.shape,
      a.begin,
      a.end,
      a.strides,
      a.beginMask,
      a.endMask,
      a.ellipsisMask,
      a.newAxisMask,
      a.shrinkAxisMask,
    );
    let current = b.callTensor('aten::alias', [b.id(x)]);
    for (let dim = 0; dim < x.shape.length; dim++) {
      const start = info.begin[dim] as number;
      const stride = info.strides[dim] as number;
      const stop = info.end[dim] as number;
      let next: number;
      if (stride > 0) {
        if (start === 0 && stop >= (x.shape[dim] as number) && stride === 1) continue;
        next = b.callTensor('aten::slice.Tensor', [current, dim, start, Math.max(start, stop), stride]);
      } else {
        // Negative strides: flip, then a positive-stride slice of the mirrored indices.
        const n = x.shape[dim] as number;
        const flipped = b.callTensor('aten::flip', [current, [dim]]);
        const mirroredStart = n - 1 - start;
        const mirroredStop = n - 1 - stop;
        next = b.callTensor('aten::slice.Tensor', [flipped, dim, mirroredStart, Math.max(mirroredStart, mirroredStop), -stride]);
        b.free(flipped);
      }
      b.free(current);
      current = next;
    }
    const out = b.callTensor('aten::reshape', [current, info.finalShape]);
    b.free(current);
    return b.output(out, x.dtype);
  }),
  torchKernel(k.Tile, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    return b.output(b.callTensor('aten::repeat', [b.id(x), (attrs as unknown as k.TileAttrs).reps]), x.dtype);
  }),
  torchKernel(k.PadV2, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { paddings, constantValue } = attrs as unknown as k.PadV2Attrs;
    // ATen lists pads from the last dim backwards.
    const pad = [...paddings].reverse().flat();
    return b.output(b.callTensor('aten::constant_pad_nd', [b.id(x), pad, constantValue]), x.dtype);
  }),
  torchKernel(k.MirrorPad, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { paddings, mode } = attrs as unknown as k.MirrorPadAttrs;
    if (mode !== 'reflect') throw new Error(`@lab/backend-torch: MirrorPad mode '${mode}' is not supported (only 'reflect')`);
    const pad = [...paddings].reverse().flat();
    return b.output(b.callTensor('aten::pad', [b.id(x), pad, 'reflect']), x.dtype);
  }),
  torchKernel(k.Reverse, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    return b.output(b.callTensor('aten::flip', [b.id(x), axesOf((attrs as unknown as k.ReverseAttrs).dims, x.shape.length)]), x.dtype);
  }),
  torchKernel(k.BroadcastTo, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    return b.output(b.callTensor('aten::expand', [b.id(x), (attrs as unknown as k.BroadCastToAttrs).shape]), x.dtype);
  }),
  torchKernel(k.Fill, (b, _inputs, attrs) => {
    const { shape, value, dtype } = attrs as unknown as k.FillAttrs;
    return b.output(b.callTensor('aten::full', [shape, value, dtype, null, b.device]), dtype);
  }),
  torchKernel(k.Range, (b, _inputs, attrs) => {
    const { start, stop, step, dtype } = attrs as unknown as k.RangeAttrs;
    if (step === 0) throw new Error('Cannot have a step of zero');
    const length = Math.max(Math.ceil((stop - start) / step), 0);
    if (length === 0) return b.makeTensorInfo([0], dtype);
    // start + i·step in float64 arithmetic, as tfjs computes the values.
    const values = dtype === 'int32' ? new Int32Array(length) : new Float32Array(length);
    for (let i = 0; i < length; i++) values[i] = start + i * step;
    return b.makeTensorInfo([length], dtype, values);
  }),
  torchKernel(k.LinSpace, (b, _inputs, attrs) => {
    const { start, stop, num } = attrs as unknown as k.LinSpaceAttrs;
    return b.output(b.callTensor('aten::linspace', [start, stop, num, 'float32', null, b.device]), 'float32');
  }),
  torchKernel(k.Select, (b, inputs) => {
    const condition = input(inputs, 'condition');
    const t = input(inputs, 't');
    // tfjs also accepts a rank-1 condition that picks whole rows of t and e.
    let cond = b.id(condition);
    let temp: number | undefined;
    if (condition.shape.length === 1 && t.shape.length > 1) {
      temp = cond = b.callTensor('aten::reshape', [cond, [condition.shape[0] as number, ...t.shape.slice(1).map(() => 1)]]);
    }
    const out = b.callTensor('aten::where.self', [cond, b.id(t), b.id(input(inputs, 'e'))]);
    if (temp !== undefined) b.free(temp);
    return b.output(out, t.dtype);
  }),
  torchKernel(k.OneHot, (b, inputs, attrs) => {
    const indices = input(inputs, 'indices');
    const { depth, onValue, offValue, dtype } = attrs as unknown as k.OneHotAttrs;
    // Out-of-range indices give a row of offValue in tfjs; ATen's one_hot rejects them.
    const ids = b.id(indices);
    const atLeastZero = b.callTensor('aten::ge.Scalar', [ids, 0]);
    const belowDepth = b.callTensor('aten::lt.Scalar', [ids, depth]);
    const inRange = b.callTensor('aten::logical_and', [atLeastZero, belowDepth]);
    const valid = b.callTensor('aten::where.ScalarOther', [inRange, ids, depth]);
    b.free(atLeastZero, belowDepth, inRange);
    const long = b.callTensor('aten::_to_copy', [valid, 'int64']);
    const hot = b.callTensor('aten::one_hot', [long, depth + 1]);
    const trimmed = b.callTensor('aten::slice.Tensor', [hot, -1, 0, depth, 1]);
    const scaled = b.callTensor('aten::mul.Scalar', [trimmed, onValue - offValue]);
    const out = b.callTensor('aten::add.Scalar', [scaled, offValue]);
    b.free(valid, long, hot, trimmed, scaled);
    return b.output(out, dtype);
  }),
  torchKernel(k.GatherV2, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const indices = input(inputs, 'indices');
    const { axis, batchDims } = attrs as unknown as k.GatherV2Attrs;
    if (batchDims !== 0) throw new Error(`@lab/backend-torch: GatherV2 with batchDims ${batchDims} is not supported`);
    const [dim] = axesOf(axis, x.shape.length);
    const flat = b.callTensor('aten::reshape', [b.id(indices), [-1]]);
    const picked = b.callTensor('aten::index_select', [b.id(x), dim, flat]);
    const shape = [...x.shape.slice(0, dim), ...indices.shape, ...x.shape.slice((dim as number) + 1)];
    const out = b.callTensor('aten::reshape', [picked, shape]);
    b.free(flat, picked);
    return b.output(out, x.dtype);
  }),
  torchKernel(k.UnsortedSegmentSum, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const segmentIds = input(inputs, 'segmentIds');
    const { numSegments } = attrs as unknown as k.UnsortedSegmentSumAttrs;
    // Rows of x (flattened to the ids' rank) summed into numSegments rows.
    const rows = util.sizeFromShape(segmentIds.shape);
    const rest = x.shape.slice(segmentIds.shape.length);
    const flatX = b.callTensor('aten::reshape', [b.id(x), [rows, ...rest]]);
    const flatIds = b.callTensor('aten::reshape', [b.id(segmentIds), [rows]]);
    const zeros = b.callTensor('aten::zeros', [[numSegments, ...rest], x.dtype, null, b.device]);
    const out = b.callTensor('aten::index_add', [zeros, 0, flatIds, flatX]);
    b.free(flatX, flatIds, zeros);
    return b.output(out, x.dtype);
  }),
  torchKernel(k.TopK, (b, inputs, attrs) => {
    const x = input(inputs, 'x');
    const { k: count, sorted } = attrs as unknown as k.TopKAttrs;
    const [values, indices] = b.call('aten::topk', [b.id(x), count, -1, true, sorted]) as [number, number];
    return [b.output(values, x.dtype), b.output(indices, 'int32')];
  }),
];
