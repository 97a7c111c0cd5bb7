import type { Logger } from '@lab/core';
import type { DependencyContainer } from './di.js';
import type { ModelRegistry } from './registry.js';

/**
 * The slice of an express `Router` a plugin may use, typed structurally so this entry point
 * never imports express. An express `Router` satisfies it.
 */
export interface RouteRegistrar {
  get(path: string, ...handlers: never[]): unknown;
  post(path: string, ...handlers: never[]): unknown;
  use(...handlers: never[]): unknown;
}

/** What a plugin receives when it registers (once per host thread: the server's and each worker's). */
export interface PluginContext<C = unknown> {
  /**
   * This app's tsyringe child container, shared by all its plugins: register services with typed
   * tokens (`ctx.container.register(TOKEN, { useValue })` or `{ useFactory }`), resolve the ones a
   * dependency registered (it registers first). One per thread: the server's, each worker's.
   */
  readonly container: DependencyContainer;
  /** This thread's model registry (`ctx.container.resolve(MODEL_REGISTRY)`): `add` a provider per model served. */
  readonly registry: ModelRegistry;
  /** A router for this plugin's own routes; in worker threads and queue workers it ignores them (no HTTP there). */
  readonly routes: RouteRegistrar;
  /** This plugin's section of the host configuration (`config[plugin.name]`), if any. */
  readonly config: C | undefined;
  /** A logger tagged with the plugin name. */
  readonly logger: Logger;
}

/**
 * How another thread or process builds the same plugin: `(await import(module))[exportName](...args)`.
 * `args` must be structured-cloneable (they are posted to worker threads).
 */
export interface PluginSource {
  readonly module: string;
  readonly exportName: string;
  readonly args: readonly unknown[];
}

/**
 * A genlab plugin: a plain value, like a fastify plugin wrapped by fastify-plugin.
 * `register` runs wherever providers are built: the server's thread and every worker thread or
 * queue worker process, each with its own container (and so its own registry and services).
 */
export interface GenlabPlugin<C = unknown> {
  readonly name: string;
  readonly version: string;
  /** The `@lab/api-plugin` versions this plugin works with, a semver range (`'^0.2.0'`); checked before anything registers. */
  readonly host?: string;
  /** Other plugins (by name) that must register first. */
  readonly dependencies?: readonly string[];
  /** How worker threads rebuild this plugin; a host with a worker pool refuses a plugin without one. */
  readonly source?: PluginSource;
  register(ctx: PluginContext<C>): void | Promise<void>;
}
