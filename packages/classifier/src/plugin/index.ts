export { type ClassifierProviderOptions, createClassifierProvider } from './classifier-provider.js';
export { classifierPlugin } from './plugin.js';
