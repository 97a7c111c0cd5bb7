export * from './errors.js';
export * from './rng.js';
export * from './logger.js';
export * from './tokens.js';
export type * from './backend/types.js';
export type * from './images/codec.js';
