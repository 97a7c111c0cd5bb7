import * as tf from '@tensorflow/tfjs-core';

/**
 * Saves the tensors a first-order gradient needs without running a kernel for each.
 *
 * tfjs 4.22 saves every tensor a gradient will read (a kernel's inputs or outputs, a custom
 * gradient's `save` list) through `Engine.clone`: an `Identity` kernel plus a tape node that lets a
 * gradient flow from the copy back to the original. A training step of the small energy net runs
 * 51 of them, a third of its kernels, and on wasm each one copies its tensor.
 *
 * The tape node matters only when a backward pass is itself recorded (a gradient of a gradient):
 * a saved copy is read by its node's gradient function and by nothing in the forward pass, so a
 * first-order pass never walks through it. While exactly one tape records (`gradientDepth` 1), the
 * saved tensor is therefore made as a second reference to the same data, the way tfjs-backend-cpu's
 * `Identity` makes it, with no kernel and no tape node. Deeper, tfjs's own clone runs unchanged.
 * Sharing is safe because tfjs never writes a tensor's data in place (`Variable.assign` swaps the
 * data, it does not overwrite it).
 */
interface EngineInternals {
  clone: (x: tf.Tensor) => tf.Tensor;
  makeTensorFromTensorInfo: (info: { dataId: object; shape: number[]; dtype: tf.DataType }) => tf.Tensor;
  backend: { incRef?: (dataId: object) => void };
  state: { gradientDepth: number; tensorInfo: WeakMap<object, { backend: unknown }> };
}

let installed: boolean | undefined;

/** Installs the lean saves (idempotent); false where the engine lacks the internals it replaces. */
export function installLeanSaves(): boolean {
  if (installed !== undefined) return installed;
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  if (
    typeof engine.clone !== 'function' ||
    typeof engine.makeTensorFromTensorInfo !== 'function' ||
    engine.state === undefined ||
    !('gradientDepth' in engine.state)
  ) {
    installed = false;
    return installed;
  }
  const internals = engine as EngineInternals;
  const clone = internals.clone.bind(engine);
  internals.clone = (x: tf.Tensor) => {
    const backend = internals.backend;
    // A string tensor's bytes are counted when written, a backend without reference counts cannot
    // share, and a tensor on another backend must move first: all keep tfjs's clone.
    if (
      internals.state.gradientDepth !== 1 ||
      x.dtype === 'string' ||
      typeof backend.incRef !== 'function' ||
      internals.state.tensorInfo.get(x.dataId)?.backend !== backend
    )
      return clone(x);
    try {
      backend.incRef(x.dataId);
    } catch {
      return clone(x); // a backend that declares incRef without implementing it (tfjs's default throws)
    }
    return internals.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype });
  };
  installed = true;
  return installed;
}
