import {
  type CastAttrs,
  type DataId,
  type DataType,
  type KernelFunc,
  type ReverseAttrs,
  type SliceAttrs,
  type SplitVAttrs,
  slice_util,
  type TensorInfo,
  type TypedArray,
  type UnpackAttrs,
  util,
} from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  /** A view of the tensor's bytes on the wasm heap (no copy; invalid once the heap grows). */
  typedArrayFromHeap(tensor: TensorInfo): TypedArray;
  incRef(dataId: DataId): void;
}

/*
 * tfjs-backend-wasm 4.22's `Slice` starts with `readSync(x)`, which copies the whole input out of
 * the wasm heap, and its `Unpack` and `SplitV` call that slice once per output: unstacking a
 * [64, 256, 128] attention tensor copies 64 × 8 MB. These kernels read the input through a heap
 * view instead, so each output costs only its own bytes. `Identity` and same-dtype `Cast` share
 * the input's memory (tensors are immutable; `Reshape` does the same) instead of copying it.
 */

/**
 * Copies the block `begin`/`size` of `x` (row-major, shape `shape`) into `out`, as runs of
 * contiguous elements: trailing dimensions the block spans entirely merge into one run.
 */
export function copyBlock(
  x: TypedArray,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
  out: TypedArray,
): void {
  const rank = shape.length;
  if (util.sizeFromShape(size as number[]) === 0) return;
  if (rank === 0) {
    out[0] = x[0] as number;
    return;
  }
  const strides = [...util.computeStrides(shape as number[]), 1];
  // The run starts at the last dimension the block does not cover in full.
  let inner = rank - 1;
  while (inner > 0 && size[inner] === shape[inner]) inner--;
  const run = (size[inner] as number) * (strides[inner] as number);
  const outer = size.slice(0, inner);
  const count = util.sizeFromShape(outer as number[]);
  const index = new Array<number>(inner).fill(0);
  let outOffset = 0;
  for (let n = 0; n < count; n++) {
    let from = (begin[inner] as number) * (strides[inner] as number);
    for (let d = 0; d < inner; d++) from += ((begin[d] as number) + (index[d] as number)) * (strides[d] as number);
    out.set(x.subarray(from, from + run), outOffset);
    outOffset += run;
    // Odometer over the outer dimensions.
    for (let d = inner - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (outer[d] as number)) break;
      index[d] = 0;
    }
  }
}

function sliceFromHeap(backend: WasmHeapBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  if (util.sizeFromShape(size) === 0) return out;
  // Views are taken after makeOutput: allocating may grow the heap and detach older views.
  copyBlock(backend.typedArrayFromHeap(x), x.shape, begin, size, backend.typedArrayFromHeap(out));
  return out;
}

/** `Slice` through heap views; string tensors go to the stock kernel. */
export function createWasmSlice(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    if (x.dtype === 'string') return stock(args);
    const { begin, size } = args.attrs as unknown as SliceAttrs;
    const [begin_, size_] = slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
    return sliceFromHeap(args.backend as WasmHeapBackend, x, begin_, size_);
  };
}

/** `Unpack` (tf.unstack): one heap-view slice per output. */
export function createWasmUnpack(stock: KernelFunc): KernelFunc {
  return (args) => {
    const value = (args.inputs as { value: TensorInfo }).value;
    if (value.dtype === 'string') return stock(args);
    const rank = value.shape.length;
    const axis = util.parseAxisParam((args.attrs as unknown as UnpackAttrs).axis, value.shape)[0] as number;
    const outShape = value.shape.filter((_, d) => d !== axis);
    const begin = new Array<number>(rank).fill(0);
    const size = [...value.shape];
    size[axis] = 1;
    const outputs: TensorInfo[] = [];
    for (let i = 0; i < (value.shape[axis] as number); i++) {
      begin[axis] = i;
      const part = sliceFromHeap(args.backend as WasmHeapBackend, value, begin, size);
      outputs.push({ dataId: part.dataId, dtype: part.dtype, shape: outShape });
    }
    return outputs;
  };
}

/** `SplitV` (tf.split): one heap-view slice per part. */
export function createWasmSplitV(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    if (x.dtype === 'string') return stock(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as SplitVAttrs;
    const d = util.parseAxisParam(axis, x.shape)[0] as number;
    const total = x.shape[d] as number;
    let sizes: number[];
    if (Array.isArray(numOrSizeSplits)) {
      sizes = [...numOrSizeSplits];
      const unknown = sizes.indexOf(-1);
      if (unknown >= 0) sizes[unknown] = total - sizes.reduce((a, b) => a + (b === -1 ? 0 : b), 0);
    } else {
      sizes = new Array<number>(numOrSizeSplits).fill(total / numOrSizeSplits);
    }
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[d] = s;
      const part = sliceFromHeap(args.backend as WasmHeapBackend, x, begin, size);
      begin[d] = (begin[d] as number) + s;
      return part;
    });
  };
}

/** `Identity`: shares the input's memory (reference-counted, like `Reshape`). */
export function createWasmIdentity(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    if (x.dtype === 'string') return stock(args);
    (args.backend as WasmHeapBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/** `Cast`: shares the input's memory when the dtype does not change; converts otherwise. */
export function createWasmCast(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    const { dtype } = args.attrs as unknown as CastAttrs;
    if (dtype !== x.dtype || x.dtype === 'string') return stock(args);
    (args.backend as WasmHeapBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/** Below this many contiguous elements per block the stock C++ kernel is the faster one. */
const MIN_REVERSE_BLOCK = 64;

/**
 * `Reverse` as block copies through heap views when the reversed axes leave a contiguous block of
 * at least {@link MIN_REVERSE_BLOCK} elements behind them — e.g. flipping a [kh, kw, Ci, Co] conv
 * filter spatially, as every conv input gradient here does: 9 row copies instead of the stock
 * kernel's per-element index arithmetic (~13× faster on [3, 3, 128, 128]). Otherwise the stock kernel.
 */
export function createWasmReverse(stock: KernelFunc): KernelFunc {
  return (args) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    const dims = util.parseAxisParam((args.attrs as unknown as ReverseAttrs).dims, x.shape);
    const last = dims.length === 0 ? -1 : Math.max(...dims);
    const block = util.sizeFromShape(x.shape.slice(last + 1));
    if (x.dtype === 'string' || last < 0 || block < MIN_REVERSE_BLOCK) return stock(args);
    const backend = args.backend as WasmHeapBackend;
    const out = backend.makeOutput([...x.shape], x.dtype);
    const from = backend.typedArrayFromHeap(x);
    const to = backend.typedArrayFromHeap(out);
    const outer = x.shape.slice(0, last + 1);
    const strides = util.computeStrides(outer);
    const reversed = new Set(dims);
    const count = util.sizeFromShape(outer);
    for (let n = 0; n < count; n++) {
      // Source block of output block n: reversed coordinates on the reversed axes.
      let rest = n;
      let source = 0;
      for (let d = 0; d < outer.length; d++) {
        const stride = d < strides.length ? (strides[d] as number) : 1;
        const coordinate = Math.floor(rest / stride);
        rest -= coordinate * stride;
        source += (reversed.has(d) ? (outer[d] as number) - 1 - coordinate : coordinate) * stride;
      }
      to.set(from.subarray(source * block, (source + 1) * block), n * block);
    }
    return out;
  };
}
