export { type DiffusionPluginOptions, diffusionPlugin } from './plugin.js';
export { CIFAR10_CLASSES, createDiffusionProvider, type DiffusionProviderOptions } from './provider.js';
