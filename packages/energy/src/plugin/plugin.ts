import { type GenlabPlugin, MODEL_REGISTRY } from '@lab/api-plugin';
import { type ClassifierProviderOptions, createClassifierProvider } from './classifier-provider.js';
import { createEnergyProvider, type EnergyProviderOptions } from './energy-provider.js';

/**
 * The energy-model plugin: one provider per checkpoint (capabilities: unconditional sampling by
 * Langevin dynamics, score; plus class-conditional and classify for JEM models).
 */
export function energyPlugin(options: { readonly models: readonly EnergyProviderOptions[] } | EnergyProviderOptions): GenlabPlugin {
  const models = 'models' in options ? options.models : [options];
  return {
    name: '@lab/energy/energy',
    version: '0.1.0',
    register(ctx) {
      const registry = ctx.container.resolve(MODEL_REGISTRY);
      for (const model of models) {
        registry.add(createEnergyProvider(model), { spec: { module: '@lab/energy', exportName: 'createEnergyProvider', options: model } });
      }
    },
  };
}

/** The classifier plugin: serves `createClassifier` checkpoints for `POST /v1/classify`. */
export function classifierPlugin(
  options: { readonly models: readonly ClassifierProviderOptions[] } | ClassifierProviderOptions,
): GenlabPlugin {
  const models = 'models' in options ? options.models : [options];
  return {
    name: '@lab/energy/classifier',
    version: '0.1.0',
    register(ctx) {
      const registry = ctx.container.resolve(MODEL_REGISTRY);
      for (const model of models) {
        registry.add(createClassifierProvider(model), {
          spec: { module: '@lab/energy', exportName: 'createClassifierProvider', options: model },
        });
      }
    },
  };
}
