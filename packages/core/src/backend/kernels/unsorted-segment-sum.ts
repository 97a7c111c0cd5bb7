import {
  type KernelBackend,
  type KernelFunc,
  type TensorInfo,
  type TypedArray,
  type UnsortedSegmentSumAttrs,
  util,
} from '@tensorflow/tfjs-core';

/**
 * `UnsortedSegmentSum` (the gradient of `gather`, e.g. of a label embedding) for backends
 * that lack it. out[s, ...] = Σ_{i: ids[i] = s} x[i, ...]; ids outside [0, numSegments)
 * are dropped, as in TensorFlow. Plain JS over the backend's synchronous memory: the
 * tensors involved (embedding tables) are small.
 */
export const unsortedSegmentSumKernel: KernelFunc = (args) => {
  const backend = args.backend as KernelBackend;
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = args.attrs as unknown as UnsortedSegmentSumAttrs;
  const idRank = segmentIds.shape.length;
  util.assert(
    util.arraysEqual(x.shape.slice(0, idRank), segmentIds.shape),
    () => `UnsortedSegmentSum: segmentIds shape ${segmentIds.shape} must be a prefix of x shape ${x.shape}`,
  );
  const rowShape = x.shape.slice(idRank);
  const rowSize = util.sizeFromShape(rowShape);
  const values = backend.readSync(x.dataId) as TypedArray;
  const ids = backend.readSync(segmentIds.dataId) as TypedArray;
  const out = util.getTypedArrayFromDType(x.dtype as 'float32' | 'int32', numSegments * rowSize) as TypedArray;
  for (let i = 0; i < ids.length; i++) {
    const segment = ids[i] as number;
    if (segment < 0 || segment >= numSegments) continue;
    const from = i * rowSize;
    const to = segment * rowSize;
    for (let j = 0; j < rowSize; j++) out[to + j] = (out[to + j] as number) + (values[from + j] as number);
  }
  const shape = [numSegments, ...rowShape];
  return { dataId: backend.write(out, shape, x.dtype), shape, dtype: x.dtype };
};
