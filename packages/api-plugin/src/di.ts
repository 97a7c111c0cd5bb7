// tsyringe checks for a Reflect metadata polyfill when it is first imported, so the polyfill comes
// first. Every tsyringe import in this package goes through this module, and every entry point
// (index, express) imports it, so a host or worker that imports @lab/api-plugin never needs its own.
import 'reflect-metadata';
import { UnavailableError } from '@lab/core';
import { type DependencyContainer, container as globalContainer, type InjectionToken, instanceCachingFactory } from 'tsyringe';
import { ModelRegistry } from './registry.js';

// Re-exported so plugins (model packages) use the container without depending on tsyringe.
export { type DependencyContainer, type InjectionToken, instanceCachingFactory };

/**
 * A typed injection token: a new, unique symbol named `name` (for error messages) that carries `T`
 * for the type checker, so `container.resolve(TOKEN)` is typed and `register(TOKEN, { useValue })`
 * checks the value. Two calls with the same name are two different tokens: export the token.
 */
export function token<T>(name: string): InjectionToken<T> {
  return Symbol(name) as InjectionToken<T>;
}

/** The token under which every host registers the `ModelRegistry` it serves from. */
export const MODEL_REGISTRY: InjectionToken<ModelRegistry> = token<ModelRegistry>('genlab.ModelRegistry');

export interface PluginContainerOptions {
  /** The registry to register under `MODEL_REGISTRY` (default: a new, empty one). */
  readonly registry?: ModelRegistry;
  /** The container this one is a child of (default: tsyringe's global `container`, which genlab never registers into). */
  readonly parent?: DependencyContainer;
}

/**
 * The container one app's plugins share: one per place that builds providers (the server's thread,
 * each worker thread, each queue worker process), a new child container each time, so nothing a
 * plugin registers leaks into another app or test. `MODEL_REGISTRY` is registered in it as a value.
 * Resolving a token nobody registered fails with an `UnavailableError` that names the token and its
 * likely cause, instead of tsyringe's bare "unregistered dependency token".
 */
export function createPluginContainer(options: PluginContainerOptions = {}): DependencyContainer {
  const child = (options.parent ?? globalContainer).createChildContainer();
  const resolve = child.resolve.bind(child);
  // Classes (and `delay(() => Class)`) resolve without registration: tsyringe constructs them.
  // Symbol and string tokens must have been registered, here or in a parent.
  child.resolve = <T>(wanted: InjectionToken<T>): T => {
    if ((typeof wanted === 'symbol' || typeof wanted === 'string') && !child.isRegistered(wanted, true)) throw unregistered(wanted);
    return resolve(wanted);
  };
  child.register(MODEL_REGISTRY, { useValue: options.registry ?? new ModelRegistry() });
  return child;
}

function unregistered(wanted: InjectionToken<unknown>): UnavailableError {
  const name = typeof wanted === 'symbol' ? (wanted.description ?? String(wanted)) : String(wanted);
  return new UnavailableError(
    `Nothing is registered for "${name}" in this app's container: is the plugin that registers it listed in ` +
      `this plugin's dependencies (and in the host's plugins)?`,
    { details: { token: name } },
  );
}
