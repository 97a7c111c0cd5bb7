import { GenlabError, type Logger, silentLogger } from '@lab/core';
import { type DependencyContainer, MODEL_REGISTRY } from './di.js';
import { API_PLUGIN_VERSION, hostSatisfies, isValidHostRange } from './host-version.js';
import type { GenlabPlugin, RouteRegistrar } from './plugin.js';

export type PluginErrorReason = 'duplicate' | 'missing' | 'cycle' | 'invalid' | 'host' | 'register';

/**
 * Registration stopped before serving: a duplicate name, a missing dependency, a cycle, a host
 * version outside the plugin's `host` range, or a failing `register`.
 */
export class PluginRegistrationError extends GenlabError {
  readonly reason: PluginErrorReason;
  readonly plugin: string;
  constructor(
    reason: PluginErrorReason,
    plugin: string,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super('validation', message, options);
    this.reason = reason;
    this.plugin = plugin;
  }
}

/**
 * Orders plugins so each comes after its dependencies (stable: input order breaks ties).
 * Throws PluginRegistrationError naming the duplicate, the missing dependency, the cycle, or the
 * plugin whose `host` range this `@lab/api-plugin` does not satisfy.
 */
export function orderPlugins<P extends Pick<GenlabPlugin, 'name' | 'dependencies' | 'host'>>(plugins: readonly P[]): P[] {
  const byName = new Map<string, P>();
  for (const plugin of plugins) {
    if (typeof plugin.name !== 'string' || plugin.name.length === 0) {
      throw new PluginRegistrationError('invalid', String(plugin.name), 'A plugin needs a non-empty name');
    }
    if (byName.has(plugin.name)) {
      throw new PluginRegistrationError('duplicate', plugin.name, `Plugin "${plugin.name}" is registered twice`);
    }
    byName.set(plugin.name, plugin);
    checkHost(plugin);
  }
  for (const plugin of plugins) {
    for (const dep of plugin.dependencies ?? []) {
      if (!byName.has(dep)) {
        throw new PluginRegistrationError('missing', plugin.name, `Plugin "${plugin.name}" depends on "${dep}", which is not registered`, {
          details: { dependency: dep },
        });
      }
    }
  }
  const ordered: P[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (plugin: P, path: string[]): void => {
    const seen = state.get(plugin.name);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...path.slice(path.indexOf(plugin.name)), plugin.name];
      throw new PluginRegistrationError('cycle', plugin.name, `Plugin dependencies form a cycle: ${cycle.join(' -> ')}`, {
        details: { cycle },
      });
    }
    state.set(plugin.name, 'visiting');
    for (const dep of plugin.dependencies ?? []) visit(byName.get(dep) as P, [...path, plugin.name]);
    state.set(plugin.name, 'done');
    ordered.push(plugin);
  };
  for (const plugin of plugins) visit(plugin, []);
  return ordered;
}

/** Throws unless the plugin's `host` range (if any) is valid and admits this `@lab/api-plugin`. */
function checkHost(plugin: Pick<GenlabPlugin, 'name' | 'host'>): void {
  if (plugin.host === undefined) return;
  if (typeof plugin.host !== 'string' || !isValidHostRange(plugin.host)) {
    throw new PluginRegistrationError('invalid', plugin.name, `Plugin "${plugin.name}" has an invalid host range "${String(plugin.host)}"`);
  }
  if (!hostSatisfies(plugin.host)) {
    throw new PluginRegistrationError(
      'host',
      plugin.name,
      `Plugin "${plugin.name}" needs @lab/api-plugin ${plugin.host}, but the host is @lab/api-plugin ${API_PLUGIN_VERSION}`,
      { details: { range: plugin.host, hostVersion: API_PLUGIN_VERSION } },
    );
  }
}

export interface RegisterPluginsOptions {
  /**
   * The app's container (`createPluginContainer()`): plugins register their services into it and
   * `add` their providers to the `ModelRegistry` resolved from it by `MODEL_REGISTRY`.
   */
  container: DependencyContainer;
  /** Gives each plugin its own router; defaults to one that rejects route registration. */
  routesFor?: (plugin: GenlabPlugin) => RouteRegistrar;
  /** Per-plugin configuration, keyed by plugin name. */
  config?: Record<string, unknown>;
  logger?: Logger;
}

/**
 * Validates the whole set first (names, dependencies, cycles, host ranges: fail fast, nothing
 * registered on error), then calls each plugin's `register` in dependency order. Returns the
 * names in the order registered.
 */
export async function registerPlugins(plugins: readonly GenlabPlugin[], options: RegisterPluginsOptions): Promise<string[]> {
  const ordered = orderPlugins(plugins);
  const logger = options.logger ?? silentLogger;
  const { container } = options;
  const registry = container.resolve(MODEL_REGISTRY);
  for (const plugin of ordered) {
    const routes = options.routesFor?.(plugin) ?? noRoutes(plugin.name);
    try {
      await plugin.register({
        container,
        registry,
        routes,
        config: options.config?.[plugin.name],
        logger: logger.child?.({ plugin: plugin.name }) ?? logger,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new PluginRegistrationError('register', plugin.name, `Plugin "${plugin.name}" failed to register: ${message}`, {
        cause: error,
      });
    }
    logger.info('plugin registered', { plugin: plugin.name, version: plugin.version });
  }
  return ordered.map((p) => p.name);
}

function noRoutes(name: string): RouteRegistrar {
  const fail = (): never => {
    throw new PluginRegistrationError('invalid', name, `Plugin "${name}" tried to add routes, but the host gave it no router`);
  };
  return { get: fail, post: fail, use: fail };
}
