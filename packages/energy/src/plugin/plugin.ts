import { type GenlabPlugin, providerPlugin } from '@lab/api-plugin';
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
      host: '^0.1.0 || ^0.2.0',
      module: '@lab/energy/plugin',
      exportName: 'createEnergyProvider',
      factory: createEnergyProvider,
    },
    options,
  );
}
