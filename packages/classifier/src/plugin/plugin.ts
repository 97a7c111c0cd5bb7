import { type GenlabPlugin, providerPlugin } from '@lab/api-plugin';
import { type ClassifierProviderOptions, createClassifierProvider } from './classifier-provider.js';

/** The classifier plugin: serves `createClassifier` checkpoints for `POST /v1/classify`. */
export function classifierPlugin(
  options: { readonly models: readonly ClassifierProviderOptions[] } | ClassifierProviderOptions,
): GenlabPlugin {
  return providerPlugin(
    {
      name: '@lab/classifier',
      version: '0.1.0',
      host: '^0.1.0 || ^0.2.0',
      module: '@lab/classifier/plugin',
      exportName: 'createClassifierProvider',
      factory: createClassifierProvider,
    },
    options,
  );
}
