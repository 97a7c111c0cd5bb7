export { percentileOf } from './checkpoint.js';
export { createEnergyProvider, type EnergyProviderOptions } from './energy-provider.js';
export { energyPlugin } from './plugin.js';
