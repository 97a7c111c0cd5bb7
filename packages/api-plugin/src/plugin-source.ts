import { type Logger, silentLogger } from '@lab/core';
import type { DependencyContainer } from './di.js';
import type { GenlabPlugin, PluginSource, RouteRegistrar } from './plugin.js';
import { PluginRegistrationError, registerPlugins } from './register.js';

/**
 * The sources of `plugins`, in order, for a host that builds providers in other threads or
 * processes. Fails fast naming a plugin that has no `source` (its `register` could not run there).
 */
export function pluginSources(plugins: readonly GenlabPlugin[]): PluginSource[] {
  return plugins.map((plugin) => {
    if (!plugin.source) {
      throw new PluginRegistrationError(
        'invalid',
        plugin.name,
        `Plugin "${plugin.name}" has no source, so worker threads cannot run its register: give it one, or serve without a worker pool`,
      );
    }
    return plugin.source;
  });
}

export interface RegisterPluginSourcesOptions {
  /** This thread's container (`createPluginContainer()`), holding the registry the plugins fill. */
  readonly container: DependencyContainer;
  readonly config?: Record<string, unknown>;
  readonly logger?: Logger;
}

/**
 * The worker side of `pluginSources`: rebuilds each plugin from its source and registers them all
 * (same checks, same order) into this thread's `container`. Routes are ignored: workers serve no HTTP.
 */
export async function registerPluginSources(sources: readonly PluginSource[], options: RegisterPluginSourcesOptions): Promise<string[]> {
  const plugins: GenlabPlugin[] = [];
  for (const source of sources) {
    const build = ((await import(source.module)) as Record<string, unknown>)[source.exportName];
    if (typeof build !== 'function') {
      throw new PluginRegistrationError('invalid', source.exportName, `${source.module} has no function export "${source.exportName}"`);
    }
    plugins.push(await (build as (...args: unknown[]) => GenlabPlugin | Promise<GenlabPlugin>)(...source.args));
  }
  return registerPlugins(plugins, {
    container: options.container,
    logger: options.logger ?? silentLogger,
    ...(options.config ? { config: options.config } : {}),
    routesFor: () => IGNORED_ROUTES,
  });
}

const ignore = (): undefined => undefined;
const IGNORED_ROUTES: RouteRegistrar = { get: ignore, post: ignore, use: ignore };
