export * from './admission.js';
export * from './executor.js';
export * from './job.js';
export * from './plugin.js';
export * from './provider.js';
export * from './register.js';
export * from './registry.js';
export * from './schemas.js';
