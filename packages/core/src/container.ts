import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import type { BackendInfo } from './backend/types.js';
import { type ImageCodec, pngCodec } from './images/codec.js';
import type { Logger } from './logger.js';
import { Rng } from './rng.js';
import { createChildContainer, TOKENS } from './tokens.js';

export interface GenlabContainerOptions {
  /** What `initBackend` returned. */
  backendInfo: BackendInfo;
  logger: Logger;
  /** Shared random source (default: a fresh `Rng` seeded from the clock). */
  rng?: Rng;
  /** Image codec (default `pngCodec`). */
  imageCodec?: ImageCodec;
  /** Parent container (default: tsyringe's global one). */
  parent?: DependencyContainer;
}

/**
 * A child container with genlab's shared services registered as values under `TOKENS`
 * (BackendInfo, Logger, ImageCodec, Rng). Plugins add theirs to the same child, so
 * nothing leaks into the global container and tests can build as many as they like.
 */
export function createGenlabContainer(options: GenlabContainerOptions): DependencyContainer {
  const container = createChildContainer(options.parent);
  container.register(TOKENS.BackendInfo, { useValue: options.backendInfo });
  container.register(TOKENS.Logger, { useValue: options.logger });
  container.register(TOKENS.ImageCodec, { useValue: options.imageCodec ?? pngCodec });
  container.register(TOKENS.Rng, { useValue: options.rng ?? new Rng() });
  return container;
}
