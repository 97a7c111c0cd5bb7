import { type DataType, engine, type Tensor, type Variable } from '@tensorflow/tfjs-core';
import type { TorchBackend } from './backend.js';

/** A tensor's shape and dtype, as a recording saw it. */
interface TensorMeta {
  readonly shape: readonly number[];
  readonly dtype: DataType;
}

const metaOf = (t: Tensor): TensorMeta => ({ shape: [...t.shape], dtype: t.dtype });
const sameMeta = (a: TensorMeta, b: TensorMeta) =>
  a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/** What `TorchBackend.beginStepRecording` notes: every variable and its addon slot before the step. */
export interface StepRecordingStart {
  readonly variables: readonly Variable[];
  readonly before: readonly number[];
}

/**
 * A recorded step (`@lab/core`'s `RecordedStep`) on the torch backend: the addon's program
 * (native/capture.h) and the tfjs tensors it binds. A replay hands the addon the slots that now
 * hold its variables and inputs; the variables it updates get their new values in those same
 * slots, so tfjs's handles stay valid and tfjs's engine does no work.
 */
export class TorchRecordedStep {
  private disposed = false;

  constructor(
    private readonly backend: TorchBackend,
    private readonly program: number,
    /** The variables the program reads or writes, in the order the addon takes their slots. */
    private readonly variables: readonly Variable[],
    private readonly inputs: readonly TensorMeta[],
    private readonly outputs: readonly TensorMeta[],
    readonly calls: number,
  ) {}

  replay(inputs: readonly Tensor[]): Tensor[] {
    if (this.disposed) throw new Error('this recorded step was disposed');
    if (inputs.length !== this.inputs.length || inputs.some((t, i) => !sameMeta(metaOf(t), this.inputs[i] as TensorMeta)))
      throw new RangeError(
        `a recorded step takes inputs ${this.inputs.map((m) => `${m.dtype}[${m.shape.join(',')}]`).join(', ')} (as recorded)`,
      );
    const b = this.backend;
    const variableSlots = this.variables.map((v) => b.ownedSlot(v));
    const ids = b.native.replay(
      this.program,
      variableSlots,
      inputs.map((t) => b.id(t)),
    );
    return ids.map((id, i) => {
      const { shape, dtype } = this.outputs[i] as TensorMeta;
      return engine().makeTensorFromTensorInfo(b.outputOfKnownShape(id, shape, dtype as 'float32' | 'int32' | 'bool'), b);
    });
  }

  differenceFrom(other: unknown): string | undefined {
    if (!(other instanceof TorchRecordedStep)) return 'the other recording is not the torch backend’s';
    if (this.variables.length !== other.variables.length || this.variables.some((v, i) => v !== other.variables[i]))
      return 'the two steps read or update different variables';
    if (this.outputs.length !== other.outputs.length || this.outputs.some((m, i) => !sameMeta(m, other.outputs[i] as TensorMeta)))
      return 'the two steps return tensors of other shapes';
    return this.backend.native.programDifference(this.program, other.program) || undefined;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backend.native.programDispose(this.program);
  }
}

/** Ends a recording begun at `start`: the addon's program bound to the tfjs tensors. */
export function finishRecording(
  backend: TorchBackend,
  start: StepRecordingStart,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
): TorchRecordedStep {
  // Variables disposed during the step drop out of both lists.
  const kept = start.variables.map((v, i) => ({ v, before: start.before[i] as number })).filter(({ v }) => !v.isDisposed);
  const { native } = backend;
  let ended: { program: number; variables: number[]; calls: number };
  try {
    // Still recording: a deferred result that an output or variable holds is computed as part of the step.
    const outputIds = outputs.map((t) => backend.id(t));
    const after = kept.map(({ v }) => backend.id(v));
    ended = native.captureEnd(
      kept.map(({ before }) => before),
      after,
      inputs.map((t) => backend.id(t)),
      outputIds,
    );
  } catch (error) {
    native.captureAbort();
    throw error;
  }
  return new TorchRecordedStep(
    backend,
    ended.program,
    ended.variables.map((k) => (kept[k] as { v: Variable }).v),
    inputs.map(metaOf),
    outputs.map(metaOf),
    ended.calls,
  );
}
