import { type GenlabPlugin, providerPlugin } from '@lab/api-plugin';
import { type ClassifierProviderOptions, createClassifierProvider } from './classifier-provider.js';
import { createEnergyProvider, type EnergyProviderOptions } from './energy-provider.js';

/**
 * The energy-model plugin: one provider per checkpoint (capabilities: unconditional sampling by
 * Langevin dynamics, score; plus class-conditional and classify for JEM models).
 */
export function energyPlugin(options: { readonly models: readonly EnergyProviderOptions[] } | EnergyProviderOptions): GenlabPlugin {
  return providerPlugin(
    {
      name: '@lab/energy/energy',
      version: '0.1.0',
      module: '@lab/energy/plugin',
      exportName: 'createEnergyProvider',
      factory: createEnergyProvider,
    },
    options,
  );
}

/** The classifier plugin: serves `createClassifier` checkpoints for `POST /v1/classify`. */
export function classifierPlugin(
  options: { readonly models: readonly ClassifierProviderOptions[] } | ClassifierProviderOptions,
): GenlabPlugin {
  return providerPlugin(
    {
      name: '@lab/energy/classifier',
      version: '0.1.0',
      module: '@lab/energy/plugin',
      exportName: 'createClassifierProvider',
      factory: createClassifierProvider,
    },
    options,
  );
}
