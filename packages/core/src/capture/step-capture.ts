import * as tf from '@tensorflow/tfjs-core';

/**
 * One step's native work, recorded by a backend that can replay it (`StepRecordingBackend`):
 * the same kernels on new inputs, with no tfjs engine or JavaScript between them.
 */
export interface RecordedStep {
  /** Native calls the step makes (what one replay runs). */
  readonly calls: number;
  /**
   * Runs the recorded work on new inputs (shapes and dtypes as recorded). Variables the step
   * updated are updated again; the results are new tensors for the caller to dispose.
   */
  replay(inputs: readonly tf.Tensor[]): tf.Tensor[];
  /** Why this recording and `other` (the same step on another call) would not replay alike, or undefined. */
  differenceFrom(other: RecordedStep): string | undefined;
  dispose(): void;
}

/** What a backend offers to record steps (`@lab/backend-torch` does). */
export interface StepRecordingBackend {
  /** Records the native work of what runs next, until `endStepRecording` or `abortStepRecording`. */
  beginStepRecording(): void;
  /** Ends the recording: `inputs` are what a replay may change, `outputs` the step's results. */
  endStepRecording(inputs: readonly tf.Tensor[], outputs: readonly tf.Tensor[]): RecordedStep;
  abortStepRecording(): void;
}

/** The backend's step recorder, or undefined where it has none (every tfjs backend but torch). */
export function stepRecorder(backend: tf.KernelBackend = tf.backend()): StepRecordingBackend | undefined {
  const candidate = backend as Partial<StepRecordingBackend>;
  const can =
    typeof candidate.beginStepRecording === 'function' &&
    typeof candidate.endStepRecording === 'function' &&
    typeof candidate.abortStepRecording === 'function';
  return can ? (backend as unknown as StepRecordingBackend) : undefined;
}

export interface CaptureStepOptions {
  /** Calls run as they are before the first recording (an optimizer makes its slots on its first step). Default 1. */
  readonly warmupCalls?: number;
  /** What the step does in JavaScript besides its kernels (an optimizer's iteration count): run after each replay. */
  readonly afterReplay?: () => void;
  /**
   * Numbers the step reads in JavaScript (a learning rate), checked before each call: when one
   * changes, the recording is dropped and the step recorded again.
   */
  readonly dependsOn?: () => readonly unknown[];
  /**
   * When the step cannot be captured (two recordings differ, the backend cannot record, capture is
   * off): run every call as it is ('eager', the reason in `refusal`) or throw. Default 'eager'.
   */
  readonly onRefused?: 'eager' | 'throw';
}

/** GENLAB_CAPTURE=0 (or off, false, no) turns step capture off for the process. */
function captureFromEnv(): boolean {
  const value = typeof process === 'undefined' ? undefined : process.env?.GENLAB_CAPTURE;
  return value === undefined || !['0', 'off', 'false', 'no'].includes(value.trim().toLowerCase());
}

let captureEnabled = captureFromEnv();

/**
 * Turns step capture on or off for `CapturedStep`s made from now on (default on; GENLAB_CAPTURE=0
 * starts the process with it off). Off, every call runs as it is: to compare, or to rule capture
 * out when something looks wrong.
 */
export function setStepCapture(enabled: boolean): void {
  captureEnabled = enabled;
}

/** How a captured step runs now. */
export type CaptureState = 'warming-up' | 'recording' | 'replaying' | 'eager';

/** Thrown by `CapturedStep.run` with `onRefused: 'throw'`, or for a backend that cannot record. */
export class CaptureRefusedError extends Error {
  override readonly name = 'CaptureRefusedError';
}

/**
 * A step (a function of tensors that returns new tensors) run through a backend's recorder:
 * after `warmupCalls` plain calls it records two calls, and if the two did the same work every
 * later call replays the recording, which skips tfjs's engine and the JavaScript of every kernel.
 * Like `tf.function` tracing or CUDA graphs, what the step computes in JavaScript is fixed by the
 * recording: numbers it reads (declare them in `dependsOn`), tensors it reads that are neither
 * inputs nor variables, random draws (pass noise in as an input). Two recordings that differ in
 * any of these refuse the capture with the reason. Reading tensor values inside the step is
 * refused too. On a backend without a recorder every call runs as it is.
 */
export class CapturedStep {
  private calls = 0;
  /** The last recording, waiting for the next to compare with, and the inputs' shapes it was made on. */
  private recorded: SignedRecording | undefined;
  /** The recording every call on inputs of its shapes replays. */
  private replayable: SignedRecording | undefined;
  private refused: string | undefined;
  private dependencies: readonly unknown[] | undefined;
  private readonly recorder: StepRecordingBackend | undefined;

  constructor(
    private readonly step: (inputs: readonly tf.Tensor[]) => tf.Tensor[],
    private readonly options: CaptureStepOptions = {},
  ) {
    this.recorder = captureEnabled ? stepRecorder() : undefined;
    if (!captureEnabled) this.refused = 'step capture is off (GENLAB_CAPTURE=0 or setStepCapture(false))';
    else if (this.recorder === undefined) this.refused = `the ${tf.getBackend()} backend cannot record steps`;
  }

  /** Why the step runs as it is (undefined while it may still be captured). */
  get refusal(): string | undefined {
    return this.refused;
  }

  get state(): CaptureState {
    if (this.refused !== undefined) return 'eager';
    if (this.replayable) return 'replaying';
    return this.calls < (this.options.warmupCalls ?? 1) ? 'warming-up' : 'recording';
  }

  /** Native calls that one replay makes (undefined until the step replays). */
  get nativeCalls(): number | undefined {
    return this.replayable?.step.calls;
  }

  /** Runs the step on `inputs`: as it is, recorded, or replayed. The results are the caller's to dispose. */
  run(inputs: readonly tf.Tensor[]): tf.Tensor[] {
    if (this.recorder !== undefined && this.refused === undefined && (tf.backend() as unknown) !== this.recorder) {
      this.dispose();
      this.refused = `the backend changed to ${tf.getBackend()} after the step was made`;
    }
    if (this.recorder === undefined && this.options.onRefused === 'throw') throw new CaptureRefusedError(this.refused);
    this.checkDependencies();
    this.calls++;
    if (this.refused !== undefined || this.calls <= (this.options.warmupCalls ?? 1)) return this.runAsItIs(inputs);
    const signature = signatureOf(inputs);
    if (this.replayable) {
      // Other shapes (a last, smaller batch): this call runs as it is.
      if (signature !== this.replayable.signature) return this.runAsItIs(inputs);
      const outputs = this.replayable.step.replay(inputs);
      this.options.afterReplay?.();
      return outputs;
    }
    const recording = this.record(inputs);
    if (this.recorded === undefined || signature !== this.recorded.signature) {
      // The first recording, or one of inputs shaped otherwise: the next call is compared with it.
      this.recorded?.step.dispose();
      this.recorded = { step: recording.step, signature };
      return recording.outputs;
    }
    const difference = recording.step.differenceFrom(this.recorded.step);
    this.recorded.step.dispose();
    this.recorded = undefined;
    if (difference === undefined) {
      this.replayable = { step: recording.step, signature };
    } else {
      recording.step.dispose();
      this.refused = `two recordings of the step differ: ${difference}`;
      if (this.options.onRefused === 'throw') {
        tf.dispose(recording.outputs);
        throw new CaptureRefusedError(this.refused);
      }
    }
    return recording.outputs;
  }

  dispose(): void {
    this.recorded?.step.dispose();
    this.replayable?.step.dispose();
    this.recorded = this.replayable = undefined;
  }

  /** The step itself, in a `tf.tidy` (a replay, too, leaves nothing but its results). */
  private runAsItIs(inputs: readonly tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => this.step(inputs));
  }

  private record(inputs: readonly tf.Tensor[]): { step: RecordedStep; outputs: tf.Tensor[] } {
    const recorder = this.recorder as StepRecordingBackend;
    recorder.beginStepRecording();
    let outputs: tf.Tensor[];
    try {
      outputs = this.runAsItIs(inputs);
    } catch (error) {
      recorder.abortStepRecording();
      throw error;
    }
    try {
      return { step: recorder.endStepRecording(inputs, outputs), outputs };
    } catch (error) {
      tf.dispose(outputs);
      throw error;
    }
  }

  /** Drops the recordings when a number the step reads has changed since they were made. */
  private checkDependencies(): void {
    const read = this.options.dependsOn;
    if (read === undefined) return;
    const now = read();
    const before = this.dependencies;
    this.dependencies = now;
    if (before === undefined || (before.length === now.length && before.every((value, i) => Object.is(value, now[i])))) return;
    this.dispose();
  }
}

/** A recording and the shapes and dtypes of the inputs it was made on (`signatureOf`). */
interface SignedRecording {
  readonly step: RecordedStep;
  readonly signature: string;
}

function signatureOf(tensors: readonly tf.Tensor[]): string {
  return tensors.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(' ');
}
