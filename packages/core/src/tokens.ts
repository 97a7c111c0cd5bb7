import 'reflect-metadata';
import { type DependencyContainer, type InjectionToken, container as rootContainer } from 'tsyringe';
import type { BackendInfo } from './backend/types.js';
import type { ImageCodec } from './images/codec.js';
import type { Logger } from './logger.js';
import type { Rng } from './rng.js';

/** A typed injection token: one `Symbol` per concept, named for debugging. */
export function createToken<T>(name: string): InjectionToken<T> {
  return Symbol.for(`genlab.${name}`) as InjectionToken<T>;
}

/** Tokens for the services every genlab package may share. */
export const TOKENS = {
  BackendInfo: createToken<BackendInfo>('BackendInfo'),
  Logger: createToken<Logger>('Logger'),
  ImageCodec: createToken<ImageCodec>('ImageCodec'),
  Rng: createToken<Rng>('Rng'),
} as const;

/** A child of `parent` (default: the global container) so registrations stay scoped. */
export function createChildContainer(parent: DependencyContainer = rootContainer): DependencyContainer {
  return parent.createChildContainer();
}

export type { DependencyContainer, InjectionToken };
