export { type DiffusionPluginOptions, diffusionPlugin } from './plugin.js';
export { createDiffusionProvider, type DiffusionProviderOptions } from './provider.js';
