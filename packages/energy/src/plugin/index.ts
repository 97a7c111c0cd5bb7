export { percentileOf } from './checkpoint.js';
export { type ClassifierProviderOptions, createClassifierProvider } from './classifier-provider.js';
export { createEnergyProvider, type EnergyProviderOptions } from './energy-provider.js';
export { classifierPlugin, energyPlugin } from './plugin.js';
