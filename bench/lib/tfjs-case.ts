/**
 * One bench case in its own process (so the peak RSS is this case's alone): one model on one
 * tfjs backend (wasm, cpu or torch; torch's threads come from GENLAB_TORCH_THREADS), inference
 * then training. Writes a JSON `CaseResult` to `--out`.
 *
 *   node --conditions=@lab/source --import tsx bench/lib/tfjs-case.ts \
 *     --backend wasm --model unet-small --train-batch 32 --infer-batch 64 --out /tmp/case.json
 *
 * `--capture` runs both steps as `CapturedStep`s (@lab/core; replayed on torch). `--skip-train` measures inference only; `--barrier DIR` (bench/lib/barrier.ts) starts the timed
 * inference steps together with the other processes waiting on DIR (the "both cores" pool).
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { type BackendName, initBackend } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import { arriveAndWait } from './barrier.js';
import { type StepProfile, type StepTiming, timeSteps, warmUp } from './measure.js';
import { type BenchModelName, createWorkload, type ModelSpec } from './workloads.js';

export interface CaseResult {
  framework: 'tfjs';
  backend: string;
  backendDetail: string;
  model: BenchModelName;
  spec: ModelSpec;
  infer?: StepTiming;
  train?: StepTiming;
  inferProfile?: StepProfile;
  trainProfile?: StepProfile;
  /** Tensor bytes held by the model alone (weights). */
  weightBytes: number;
  /** Tensor bytes held between training steps (weights + Adam slots + inputs). */
  steadyBytes: number;
  /** Highest tensor bytes held inside one profiled step. */
  peakStepBytes: number;
  /** Tensors and bytes held after the first and after the last training step (must be equal). */
  tensorsAfterFirstTrain?: number;
  tensorsAfterLastTrain?: number;
  /** On the torch backend: the addon's live LibTorch tensors after the first and the last training step (must be equal). */
  liveTensorsAfterFirstTrain?: number;
  liveTensorsAfterLastTrain?: number;
  bytesAfterFirstTrain?: number;
  bytesAfterLastTrain?: number;
  losses: number[];
  weightsChanged: boolean;
  peakRssMiB: number;
  loadAverage: number;
  wallSeconds: number;
  /** With `--barrier`: when the timed inference steps started and ended (ms since the epoch). */
  inferWindow?: [number, number];
  /** With `--barrier`: false when this process gave up waiting for the others. */
  barrierReleased?: boolean;
}

const { values } = parseArgs({
  options: {
    backend: { type: 'string' },
    model: { type: 'string' },
    'train-batch': { type: 'string', default: '32' },
    'infer-batch': { type: 'string', default: '64' },
    'budget-ms': { type: 'string', default: '20000' },
    'max-steps': { type: 'string', default: '5' },
    'warmup-ms': { type: 'string', default: '0' },
    'warmup-steps': { type: 'string', default: '1' },
    'warmup-target-steps': { type: 'string', default: '0' },
    'warmup-max-ms': { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
    'skip-train': { type: 'boolean', default: false },
    capture: { type: 'boolean', default: false },
    /** A folder shared with other cases run at the same time: the timed inference steps start together (bench/lib/barrier.ts). */
    barrier: { type: 'string' },
    out: { type: 'string' },
  },
});

async function main(): Promise<void> {
  const started = performance.now();
  if (!values.backend || !values.model || !values.out) throw new Error('--backend, --model and --out are required');
  const info = await initBackend({ force: values.backend as BackendName });
  const native = info.tfBackend === 'torch' ? (await import('@lab/backend-torch')).loadNative() : undefined;
  const trainBatch = Number(values['train-batch']);
  const inferBatch = Number(values['infer-batch']);
  const timing = {
    warmup: Number(values['warmup-steps']),
    warmupMs: Number(values['warmup-ms']),
    warmupTargetSteps: Number(values['warmup-target-steps']),
    warmupMaxMs: Number(values['warmup-max-ms']),
    minSteps: 2,
    maxSteps: Number(values['max-steps']),
    budgetMs: Number(values['budget-ms']),
  };

  const before = tf.memory().numBytes;
  const workload = createWorkload(values.model as BenchModelName, { trainBatch, inferBatch, capture: values.capture });
  // The workload holds its inputs too; weights alone are what the model owns.
  const weightBytes = workload.spec.params * 4;
  const result: CaseResult = {
    framework: 'tfjs',
    backend: info.tfBackend,
    backendDetail: info.detail,
    model: values.model as BenchModelName,
    spec: workload.spec,
    weightBytes,
    steadyBytes: 0,
    peakStepBytes: 0,
    losses: [],
    weightsChanged: false,
    peakRssMiB: 0,
    loadAverage: loadavg()[0] ?? 0,
    wallSeconds: 0,
  };

  let inferRun: Awaited<ReturnType<typeof timeSteps>>;
  if (values.barrier) {
    // Warm up alone, then start the timed steps with the other processes.
    await warmUp(() => workload.infer(), timing);
    result.barrierReleased = await arriveAndWait(values.barrier, String(process.pid));
    const windowStart = Date.now();
    inferRun = await timeSteps(
      () => workload.infer(),
      inferBatch,
      { ...timing, warmup: 0, warmupMs: 0, warmupTargetSteps: 0 },
      values.profile,
    );
    result.inferWindow = [windowStart, Date.now()];
  } else {
    inferRun = await timeSteps(() => workload.infer(), inferBatch, timing, values.profile);
  }
  result.infer = inferRun.timing;
  if (inferRun.profile) result.inferProfile = inferRun.profile;

  if (!values['skip-train']) {
    const weightsBefore = await workload.weightChecksum();
    const train = async () => {
      result.losses.push(await workload.train());
      const memory = tf.memory();
      if (result.tensorsAfterFirstTrain === undefined) {
        result.tensorsAfterFirstTrain = memory.numTensors;
        result.bytesAfterFirstTrain = memory.numBytes;
      }
      result.tensorsAfterLastTrain = memory.numTensors;
      result.bytesAfterLastTrain = memory.numBytes;
      if (native) {
        result.liveTensorsAfterFirstTrain ??= native.liveTensors();
        result.liveTensorsAfterLastTrain = native.liveTensors();
      }
    };
    const trainRun = await timeSteps(train, trainBatch, timing, values.profile);
    result.train = trainRun.timing;
    if (trainRun.profile) result.trainProfile = trainRun.profile;
    result.steadyBytes = tf.memory().numBytes - before;
    result.weightsChanged = (await workload.weightChecksum()) !== weightsBefore;
    if (!result.losses.every(Number.isFinite)) throw new Error(`non-finite training loss: ${result.losses.join(', ')}`);
    if (!result.weightsChanged) throw new Error('training steps did not change the weights');
  }
  result.peakStepBytes = Math.max(result.trainProfile?.peakBytes ?? 0, result.inferProfile?.peakBytes ?? 0);
  workload.dispose();
  result.peakRssMiB = process.resourceUsage().maxRSS / 1024;
  result.wallSeconds = (performance.now() - started) / 1000;
  writeFileSync(values.out, JSON.stringify(result, null, 2));
}

await main();
