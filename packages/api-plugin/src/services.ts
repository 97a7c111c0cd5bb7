import { ValidationError } from '@lab/core';

/** A typed key for one value plugins share: `const CACHE = serviceKey<Cache>('my-plugin.cache')`. */
export interface ServiceKey<T> {
  readonly name: string;
  /** Never set: carries `T` for the type checker. */
  readonly __type?: T;
}

/** Creates a service key; two keys with the same name are the same key. */
export function serviceKey<T>(name: string): ServiceKey<T> {
  return { name };
}

/**
 * The values plugins share with the plugins that depend on them (fastify's `decorate`): a plugin
 * `provide`s under a key, a dependent `get`s it. One per host thread, filled by `register`.
 */
export class Services {
  private readonly values = new Map<string, unknown>();

  /** Stores `value` under `key`; providing a key twice is an error (two plugins would fight over it). */
  provide<T>(key: ServiceKey<T>, value: T): void {
    if (this.values.has(key.name)) throw new ValidationError(`Service "${key.name}" is provided twice`);
    this.values.set(key.name, value);
  }

  /** The value under `key`; throws naming the key when no plugin provided it. */
  get<T>(key: ServiceKey<T>): T {
    if (!this.values.has(key.name)) {
      throw new ValidationError(`No plugin provided the service "${key.name}" (is the plugin that provides it a dependency?)`);
    }
    return this.values.get(key.name) as T;
  }

  has(key: ServiceKey<unknown>): boolean {
    return this.values.has(key.name);
  }
}
