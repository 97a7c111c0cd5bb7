import {
  type BackendTimingInfo,
  type BackendValues,
  type DataId,
  DataStorage,
  type DataType,
  engine,
  KernelBackend,
  type Tensor,
  type TensorInfo,
  type Variable,
} from '@tensorflow/tfjs-core';
import { DTYPE_CODES, type TorchNative } from './native.js';
import { finishRecording, type StepRecordingStart, type TorchRecordedStep } from './step-recording.js';

interface TensorData {
  /** The addon's tensor id (-1 while `deferred`). */
  id: number;
  refCount: number;
  /** A result not computed yet: `compute(holds)` makes it on first read; `holds` are the addon ids it keeps alive until then. */
  deferred?: { readonly holds: number[]; readonly compute: (holds: readonly number[]) => number };
  /** This tensor padded as `key` says (an addon id), kept by a convolution for its filter gradient. */
  padded?: { readonly key: string; readonly id: number };
  /** An addon tensor the kernel that made this one kept for its gradient kernel (a fused layer's pre-activation). */
  companion?: number;
}

/** The largest rank the addon describes without a `meta` call (tfjs tensors rarely pass 6). */
const MAX_DESCRIBED_RANK = 8;

/** A LibTorch result converted to one of tfjs's dtypes. */
const TFJS_DTYPE_OF: Partial<Record<(typeof DTYPE_CODES)[number], DataType>> = {
  float32: 'float32',
  int32: 'int32',
  bool: 'bool',
};

/** dtypes LibTorch may return that tfjs lacks, and what they become. */
const NARROWED: Partial<Record<(typeof DTYPE_CODES)[number], DataType>> = {
  int64: 'int32',
  float64: 'float32',
  float16: 'float32',
  uint8: 'int32',
};

/**
 * A tfjs `KernelBackend` whose tensors live in LibTorch. Each tfjs data id maps to one addon
 * tensor id; views (transposes, slices) are separate LibTorch tensors sharing storage, freed
 * by LibTorch's own reference counting when the last one is disposed. Kernels (src/kernels/)
 * call ATen operators through `call`, `output` and `free`.
 */
export class TorchBackend extends KernelBackend {
  private readonly data: DataStorage<TensorData>;
  private readonly operators = new Map<string, number>();
  /** The addon's description of the last `call`'s tensor result (`TorchNative.setLastResultBuffer`). */
  private readonly lastResult = new Int32Array(3 + MAX_DESCRIBED_RANK);
  /** Where factory kernels (zeros, full, linspace) place new tensors: 'cpu' or 'cuda[:n]'. */
  readonly device: string;
  /** Set between `beginStepRecording` and its end. */
  private recording: StepRecordingStart | undefined;

  constructor(readonly native: TorchNative) {
    super();
    this.data = new DataStorage(this, engine());
    this.device = native.facts().device;
    native.setLastResultBuffer(this.lastResult);
  }

  // ---- storage -----------------------------------------------------------------------

  override write(values: BackendValues | null, shape: number[], dtype: DataType): DataId {
    const dataId = {};
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount: 1 });
    return dataId;
  }

  override move(dataId: DataId, values: BackendValues | null, shape: number[], dtype: DataType, refCount: number): void {
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount });
  }

  makeTensorInfo(shape: number[], dtype: DataType, values?: BackendValues): TensorInfo {
    return { dataId: this.write(values ?? null, shape, dtype), shape, dtype };
  }

  override refCount(dataId: DataId): number {
    return this.data.has(dataId) ? this.data.get(dataId).refCount : 0;
  }

  override incRef(dataId: DataId): void {
    this.data.get(dataId).refCount++;
  }

  override numDataIds(): number {
    return this.data.numDataIds();
  }

  override disposeData(dataId: DataId, force = false): boolean {
    if (!this.data.has(dataId)) return true;
    const entry = this.data.get(dataId);
    entry.refCount--;
    if (!force && entry.refCount > 0) return false;
    if (entry.deferred) this.native.dispose(...entry.deferred.holds);
    else if (entry.id >= 0) this.native.dispose(entry.id); // -1: a deferred result whose computation failed
    if (entry.padded) this.native.dispose(entry.padded.id);
    if (entry.companion !== undefined) this.native.dispose(entry.companion);
    this.data.delete(dataId);
    return true;
  }

  disposeIntermediateTensorInfo(info: TensorInfo): void {
    this.disposeData(info.dataId);
  }

  override async read(dataId: DataId): Promise<BackendValues> {
    return this.readSync(dataId);
  }

  override readSync(dataId: DataId): BackendValues {
    const values = this.native.toArray(this.resolve(this.data.get(dataId)));
    if (values instanceof Float64Array) return Float32Array.from(values);
    if (values instanceof BigInt64Array) return Int32Array.from(values, Number);
    return values;
  }

  override memory(): { unreliable: boolean; reasons?: string[] } {
    return { unreliable: true, reasons: ['LibTorch allocates tensor memory; tfjs counts only what it was told'] };
  }

  override async time(f: () => void): Promise<BackendTimingInfo> {
    const start = performance.now();
    f();
    return { kernelMs: performance.now() - start };
  }

  override timerAvailable(): boolean {
    return true;
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override dispose(): void {
    // Tensors are freed through disposeData; the addon's memory lives as long as the process.
  }

  // ---- step recording (@lab/core's StepRecordingBackend; native/capture.h) -------------------

  /** Records the native work of what runs next, until `endStepRecording` or `abortStepRecording`. */
  beginStepRecording(): void {
    if (this.recording) throw new Error('@lab/backend-torch: a step is already being recorded');
    // Variables whose data another backend holds are left out: if the step moves one here, that
    // shows as an upload in the first recording only, and the two recordings differ.
    const variables = Object.values(engine().registeredVariables).filter((v) => this.data.has(v.dataId));
    const before = variables.map((v) => this.id(v));
    this.native.captureBegin();
    this.recording = { variables, before };
  }

  /** Ends the recording: `inputs` are what a replay may change, `outputs` the step's results. */
  endStepRecording(inputs: readonly Tensor[], outputs: readonly Tensor[]): TorchRecordedStep {
    const start = this.recording;
    if (start === undefined) throw new Error('@lab/backend-torch: no step is being recorded');
    this.recording = undefined;
    return finishRecording(this, start, inputs, outputs);
  }

  abortStepRecording(): void {
    this.recording = undefined;
    this.native.captureAbort();
  }

  /**
   * The addon slot of a variable that a replay may write in place. A variable whose data another
   * tensor shares (`tf.clone` shares it) first gets a copy of its own, so the other keeps its value.
   */
  ownedSlot(variable: Variable): number {
    if (variable.isDisposed) throw new Error(`@lab/backend-torch: variable ${variable.name} was disposed after the step was recorded`);
    if (this.refCount(variable.dataId) > 1) {
      const copy = engine().makeTensorFromTensorInfo(
        this.outputOfKnownShape(this.callTensor('aten::clone', [this.id(variable)]), variable.shape, variable.dtype as 'float32'),
        this,
      );
      variable.assign(copy);
      copy.dispose();
    }
    return this.id(variable);
  }

  // ---- what kernels use -----------------------------------------------------------------

  /** The addon tensor id behind a tfjs tensor. */
  id(info: TensorInfo): number {
    return this.resolve(this.data.get(info.dataId));
  }

  /**
   * A float32 result that is computed only if something reads it. tfjs's fused convolution
   * gradient computes the input gradient of every layer, the first one's included, which nothing
   * reads in training (on energy-small that is the costliest gradient of the step). `holds`:
   * addon ids (e.g. aliases of the inputs) that `compute` needs; this backend never writes to a
   * tensor in place, so they keep what they held. The backend frees them either way.
   */
  deferredOutput(shape: number[], holds: number[], compute: (holds: readonly number[]) => number): TensorInfo {
    const dataId = {};
    this.data.set(dataId, { id: -1, refCount: 1, deferred: { holds, compute } });
    return { dataId, shape, dtype: 'float32' };
  }

  /**
   * Keeps `id`, an addon tensor holding x padded as `key` describes, until a convolution's filter
   * gradient takes it (`takePadded`) or x's data is freed; takes ownership of the id.
   */
  keepPadded(x: TensorInfo, key: string, id: number): void {
    const entry = this.data.get(x.dataId);
    if (entry.padded) this.native.dispose(entry.padded.id);
    entry.padded = { key, id };
  }

  /** The padded copy of x kept under `key`, handed over (the caller frees the id), or undefined. */
  takePadded(x: TensorInfo, key: string): number | undefined {
    const entry = this.data.get(x.dataId);
    const padded = entry?.padded;
    if (padded?.key !== key) return undefined;
    entry.padded = undefined;
    return padded.id;
  }

  /** Keeps `id` (taking ownership) with y's data until that is freed: what y's gradient kernel will need. */
  keepCompanion(y: TensorInfo, id: number): void {
    const entry = this.data.get(y.dataId);
    if (entry.companion !== undefined) this.native.dispose(entry.companion);
    entry.companion = id;
  }

  /** The addon id kept with y's data by `keepCompanion` (still owned by y), or undefined. */
  companionOf(y: TensorInfo): number | undefined {
    return this.data.get(y.dataId)?.companion;
  }

  private resolve(entry: TensorData): number {
    const deferred = entry.deferred;
    if (deferred === undefined) return entry.id;
    try {
      entry.id = deferred.compute(deferred.holds);
    } finally {
      entry.deferred = undefined;
      this.native.dispose(...deferred.holds);
    }
    return entry.id;
  }

  /**
   * Calls an ATen operator, named `namespace::name.overload` (e.g. `aten::add.Tensor`), with
   * addon tensor ids, numbers, booleans, strings, arrays and null. Returns what it returns.
   */
  call(operator: string, args: readonly unknown[]): unknown {
    let index = this.operators.get(operator);
    if (index === undefined) {
      const dot = operator.indexOf('.', operator.indexOf('::') + 2);
      index = dot < 0 ? this.native.op(operator, '') : this.native.op(operator.slice(0, dot), operator.slice(dot + 1));
      this.operators.set(operator, index);
    }
    return this.native.call(index, args);
  }

  /** `call` for operators that return one tensor: its id. */
  callTensor(operator: string, args: readonly unknown[]): number {
    return this.call(operator, args) as number;
  }

  /**
   * Wraps an addon tensor id as a tfjs tensor (taking ownership of the id). A dtype that tfjs
   * lacks (int64 indices, float64) is converted first; `dtype` asks for a specific one.
   */
  output(id: number, dtype?: DataType): TensorInfo {
    const [code, ...shape] = this.metaOf(id);
    const torchDtype = DTYPE_CODES[code as number] ?? 'other';
    const want = dtype ?? TFJS_DTYPE_OF[torchDtype] ?? NARROWED[torchDtype];
    if (want === undefined) {
      this.native.dispose(id);
      throw new Error(`@lab/backend-torch: LibTorch returned a ${torchDtype} tensor, which tfjs cannot hold`);
    }
    let owned = id;
    if (TFJS_DTYPE_OF[torchDtype] !== want) {
      owned = this.callTensor('aten::_to_copy', [id, want]);
      this.native.dispose(id);
    }
    const dataId = {};
    this.data.set(dataId, { id: owned, refCount: 1 });
    return { dataId, shape, dtype: want };
  }

  /**
   * `output` for a result whose shape and dtype the kernel knows for certain (e.g. Adam's, which
   * are its inputs'): no question to the addon. The caller vouches for both.
   */
  outputOfKnownShape(id: number, shape: readonly number[], dtype: 'float32' | 'int32' | 'bool'): TensorInfo {
    const dataId = {};
    this.data.set(dataId, { id, refCount: 1 });
    return { dataId, shape: [...shape], dtype };
  }

  /** `[dtypeCode, ...shape]` of an addon tensor, read from the last call's description when it is that tensor. */
  private metaOf(id: number): number[] {
    const last = this.lastResult;
    if (last[0] !== id) return this.native.meta(id);
    const rank = last[2] as number;
    const meta = new Array<number>(rank + 1);
    meta[0] = last[1] as number;
    for (let i = 0; i < rank; i++) meta[i + 1] = last[3 + i] as number;
    return meta;
  }

  /** `x` itself as a kernel's output: one more reference to its data, no new LibTorch tensor. */
  share(x: TensorInfo): TensorInfo {
    this.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  }

  /** Frees addon tensor ids a kernel made along the way. */
  free(...ids: number[]): void {
    this.native.dispose(...ids);
  }

  private upload(values: BackendValues | null, shape: number[], dtype: DataType): number {
    if (dtype === 'string' || dtype === 'complex64')
      throw new Error(`@lab/backend-torch: ${dtype} tensors are not supported (LibTorch holds numbers only)`);
    const size = shape.reduce((a, b) => a * b, 1);
    return this.native.fromArray(typedValues(values, size, dtype), shape, dtype);
  }
}

function typedValues(values: BackendValues | null, size: number, dtype: DataType): Float32Array | Int32Array | Uint8Array {
  const Type = dtype === 'float32' ? Float32Array : dtype === 'int32' ? Int32Array : Uint8Array;
  if (values === null) return new Type(size);
  if (values instanceof Type) return values;
  if (ArrayBuffer.isView(values) || Array.isArray(values)) return Type.from(values as ArrayLike<number>);
  throw new Error(`@lab/backend-torch: cannot write ${Object.prototype.toString.call(values)} as ${dtype}`);
}
