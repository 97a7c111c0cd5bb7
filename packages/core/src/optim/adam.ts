import * as tf from '@tensorflow/tfjs-core';

/**
 * The kernel a backend may register to take a whole Adam step for every variable at once
 * (`@lab/backend-torch` does, with ATen's `_foreach_` operators). Inputs: `value{i}`,
 * `gradient{i}`, `m{i}`, `v{i}` for i < `count`; outputs: the new m's, then the new v's, then
 * the new values, each in input order. Also `beta1Power` and `beta2Power`: β₁ᵗ and β₂ᵗ for this step as
 * float32 scalars (the optimizer's own state), which a backend that replays captured steps reads
 * instead of the attrs' bias corrections.
 */
export const ADAM_UPDATE_KERNEL = 'GenlabAdamUpdate';

export interface AdamUpdateAttrs {
  readonly count: number;
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** 1 − β₁ᵗ and 1 − β₂ᵗ for this step t (≥ 1). */
  readonly biasCorrection1: number;
  readonly biasCorrection2: number;
}

/** tfjs's AdamOptimizer keeps these private; the fused step reads and writes the same state. */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: tf.Variable }>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: tf.Variable }>;
}

/**
 * tfjs's Adam (same hyper-parameters, state, checkpoints and serialisation name), whose step
 * is one kernel call for all variables on a backend that registers `ADAM_UPDATE_KERNEL`,
 * instead of ~14 kernels per variable. Elsewhere it is tfjs's own step, unchanged.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (tf.getKernel(ADAM_UPDATE_KERNEL, tf.getBackend()) === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const step = this.iterations + 1; // (the getter: iterations_ starts undefined)
    tf.tidy(() => {
      const inputs: tf.NamedTensorMap = {};
      const updated: Array<{ value: tf.Variable; m: tf.Variable; v: tf.Variable }> = [];
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name] as tf.Variable;
        state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const gradient = Array.isArray(variableGradients) ? variableGradients[i]?.tensor : variableGradients[name];
        if (gradient == null) return;
        const slot = updated.length;
        const m = (state.accumulatedFirstMoment[i] as { variable: tf.Variable }).variable;
        const v = (state.accumulatedSecondMoment[i] as { variable: tf.Variable }).variable;
        inputs[`value${slot}`] = value;
        inputs[`gradient${slot}`] = gradient;
        inputs[`m${slot}`] = m;
        inputs[`v${slot}`] = v;
        updated.push({ value, m, v });
      });
      if (updated.length > 0) {
        const attrs: AdamUpdateAttrs = {
          count: updated.length,
          learningRate: this.learningRate,
          beta1: this.beta1,
          beta2: this.beta2,
          epsilon: this.epsilon,
          biasCorrection1: 1 - this.beta1 ** step,
          biasCorrection2: 1 - this.beta2 ** step,
        };
        inputs.beta1Power = state.accBeta1;
        inputs.beta2Power = state.accBeta2;
        const outputs = tf.engine().runKernel(ADAM_UPDATE_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        const n = updated.length;
        updated.forEach(({ value, m, v }, i) => {
          m.assign(outputs[i] as tf.Tensor);
          v.assign(outputs[n + i] as tf.Tensor);
          value.assign(outputs[2 * n + i] as tf.Tensor);
        });
      }
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/** `tf.train.adam`, fused where the backend allows (see `FusedAdamOptimizer`). */
export function adam(learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon?: number): tf.AdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
