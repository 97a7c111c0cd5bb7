import type { DependencyContainer, Logger } from '@lab/core';

/**
 * The slice of an express `Router` a plugin may use, typed structurally so this entry point
 * never imports express. An express `Router` satisfies it.
 */
export interface RouteRegistrar {
  get(path: string, ...handlers: never[]): unknown;
  post(path: string, ...handlers: never[]): unknown;
  use(...handlers: never[]): unknown;
}

/** What a plugin receives when it registers. */
export interface PluginContext<C = unknown> {
  /** The application's tsyringe child container, shared by all plugins (dependencies register into it first). */
  readonly container: DependencyContainer;
  /** A router scoped to this plugin's own routes (model routes come from capabilities instead). */
  readonly routes: RouteRegistrar;
  /** This plugin's section of the host configuration (`config[plugin.name]`), if any. */
  readonly config: C | undefined;
  /** A logger tagged with the plugin name. */
  readonly logger: Logger;
}

/**
 * A genlab plugin: a plain value, like a fastify plugin wrapped by fastify-plugin.
 * `dependencies` names other plugins that must register first.
 */
export interface GenlabPlugin<C = unknown> {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: readonly string[];
  register(ctx: PluginContext<C>): void | Promise<void>;
}
