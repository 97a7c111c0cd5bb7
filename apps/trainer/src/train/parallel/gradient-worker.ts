/**
 * A gradient worker thread: holds a replica of the task's model, and for each shard message sets
 * the replica's weights to the main model's, accumulates the gradients of the shard's mean loss
 * over its micro-batches and sends them back. Started by `GradientWorkerPool`.
 */
import { parentPort } from 'node:worker_threads';
import { initBackend, silentLogger } from '@lab/core';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { taskFromConfig } from '../../tasks/index.js';
import type { TrainingTask } from '../../tasks/types.js';
import { accumulateGradients } from '../gradients.js';
import { sliceMicroBatches } from '../micro-batches.js';
import {
  type InitMessage,
  packTensor,
  type ShardMessage,
  type ShardResult,
  serializeError,
  transferablesOf,
  unpackTensor,
  type WorkerReply,
  type WorkerRequest,
} from './protocol.js';

interface Replica {
  readonly task: TrainingTask;
  readonly model: tfl.LayersModel;
}

async function setup(init: InitMessage): Promise<Replica> {
  await initBackend({ force: init.backend, logger: silentLogger });
  const task = taskFromConfig(init.kind, init.config);
  return { task, model: task.createModel() };
}

function computeShard({ task, model }: Replica, message: ShardMessage): ShardResult {
  if (message.weights.length !== model.weights.length) {
    throw new Error(`the main model has ${message.weights.length} weights, this replica ${model.weights.length}`);
  }
  model.weights.forEach((weight, i) => {
    const value = unpackTensor(message.weights[i] as ShardMessage['weights'][number]);
    try {
      weight.write(value);
    } finally {
      value.dispose();
    }
  });
  const inputs = Object.fromEntries(Object.entries(message.inputs).map(([k, packed]) => [k, unpackTensor(packed)]));
  try {
    const count = (Object.values(inputs)[0] as tf.Tensor).shape[0] as number;
    const micro = sliceMicroBatches(inputs, [0, count], message.microBatch, (slice) => task.loss(model, slice));
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const accumulated = accumulateGradients(variables, micro);
    try {
      return {
        count,
        grads: variables.map((v) => packTensor(accumulated.grads[v.name] as tf.Tensor).data as Float32Array),
        loss: accumulated.loss.dataSync()[0] as number,
        metrics: Object.fromEntries(Object.entries(accumulated.metrics).map(([k, m]) => [k, m.dataSync()[0] as number])),
        nonTrainable: model.nonTrainableWeights.map((w) => packTensor(w.read()).data as Float32Array),
        passes: micro.length,
      };
    } finally {
      tf.dispose([accumulated.loss, ...Object.values(accumulated.metrics), ...Object.values(accumulated.grads)]);
    }
  } finally {
    tf.dispose(Object.values(inputs));
  }
}

const port = parentPort;
if (!port) throw new Error('gradient-worker runs as a worker thread (started by GradientWorkerPool)');
let replica: Promise<Replica> | undefined;
port.on('message', async (request: WorkerRequest) => {
  if (request.type === 'init') {
    replica = setup(request);
    // Reported with the first shard that needs the replica.
    replica.catch(() => {});
    return;
  }
  let reply: WorkerReply;
  try {
    if (!replica) throw new Error('the gradient worker got a shard before its init message');
    const result = computeShard(await replica, request);
    reply = { id: request.id, ok: true, result };
  } catch (error) {
    reply = { id: request.id, ok: false, error: serializeError(error) };
  }
  port.postMessage(reply, reply.ok ? transferablesOf([...reply.result.grads, ...reply.result.nonTrainable]) : []);
});
