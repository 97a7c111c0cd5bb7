import * as tf from '@tensorflow/tfjs-core';

/**
 * Frees each tape node's saved tensors and output gradients as soon as a first-order backward
 * pass has finished with the node, as PyTorch's autograd does. tfjs 4.22 keeps all of them until
 * the pass ends (`backpropagateGradients` never disposes a node's dys, and `gradients()` disposes
 * the saved tensors afterwards), so a training step peaked at the saved activations plus the
 * gradient of every activation.
 *
 * How: each tape node's gradient function is wrapped when the node is recorded. When the backward
 * pass calls a node, the previous node is finished (the pass walks the tape once, in reverse, and
 * a node's output gradients are complete and read by no one once the node has run), so its
 * leftovers are freed then. Left alone:
 * - higher-order passes (a tape is recording the backward pass: its nodes may need them);
 * - gradients older than the node's outputs (a `dy` given by the caller, not the pass's own);
 * - a gradient that a node returns unchanged as an input's gradient (it may be a result).
 * The last node's leftovers are freed by tfjs at the end of the pass, as before.
 */
interface TapeNode {
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  addTapeNode: (...args: unknown[]) => void;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

interface Leftovers {
  readonly tensors: tf.Tensor[];
  readonly escaped: Set<tf.Tensor>;
}

let installed: boolean | undefined;

/** Installs the release (idempotent); false where the engine lacks the internals it wraps. */
export function installBackwardRelease(): boolean {
  if (installed !== undefined) return installed;
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  if (typeof engine.addTapeNode !== 'function' || engine.state === undefined || !('gradientDepth' in engine.state)) {
    installed = false;
    return installed;
  }
  const internals = engine as EngineInternals;
  const addTapeNode = internals.addTapeNode.bind(engine);
  let previous: Leftovers | undefined;

  const release = (leftovers: Leftovers | undefined) => {
    if (leftovers === undefined) return;
    for (const tensor of leftovers.tensors) if (!leftovers.escaped.has(tensor)) tensor.dispose();
  };

  internals.addTapeNode = (...args: unknown[]) => {
    addTapeNode(...args);
    const tape = internals.state.activeTape;
    const node = tape?.[tape.length - 1];
    const gradient = node?.gradient;
    if (node === undefined || gradient === undefined) return;
    node.gradient = (dys) => {
      if (internals.state.gradientDepth > 0) return gradient(dys);
      release(previous);
      previous = undefined;
      const inputGradients = gradient(dys);
      const newestOutput = Math.max(...node.outputs.map((t) => t.id));
      const leftovers: Leftovers = {
        tensors: [...(node.saved ?? []), ...dys.filter((dy): dy is tf.Tensor => dy !== null && dy.id > newestOutput)],
        escaped: new Set(),
      };
      previous = leftovers;
      const wrapped: Record<string, () => tf.Tensor> = {};
      for (const [name, compute] of Object.entries(inputGradients)) {
        wrapped[name] = () => {
          const dx = compute();
          if (leftovers.tensors.includes(dx)) leftovers.escaped.add(dx);
          return dx;
        };
      }
      return wrapped;
    };
  };
  installed = true;
  return installed;
}
