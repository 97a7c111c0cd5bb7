import type { GenlabPlugin } from './plugin.js';
import type { ProviderFactory } from './provider.js';

/** A plugin that serves models through one exported provider factory. */
export interface ProviderPluginDefinition<O> {
  readonly name: string;
  readonly version: string;
  /** The `@lab/api-plugin` versions the plugin works with (a semver range, checked at registration). */
  readonly host?: string;
  readonly dependencies?: readonly string[];
  /** The module that exports the provider factory as `exportName` (worker threads import it). */
  readonly module: string;
  readonly exportName: string;
  /** The factory itself; when omitted, `register` imports it from `module`. */
  readonly factory?: ProviderFactory<O>;
}

type Models<O> = { readonly models: readonly O[] } | O;

/**
 * Builds a plugin that adds one provider per model (`{models: [...]}` or a single options object)
 * to the host's ModelRegistry. Its `source` rebuilds the same plugin in a worker thread (the
 * factory is then imported from `module`), so options must be structured-cloneable.
 */
export function providerPlugin<O extends object>(definition: ProviderPluginDefinition<O>, options: Models<O>): GenlabPlugin {
  const models = 'models' in options ? (options as { readonly models: readonly O[] }).models : [options as O];
  const { factory, ...portable } = definition;
  return {
    name: definition.name,
    version: definition.version,
    ...(definition.host === undefined ? {} : { host: definition.host }),
    ...(definition.dependencies === undefined ? {} : { dependencies: definition.dependencies }),
    source: { module: '@lab/api-plugin', exportName: 'providerPlugin', args: [portable, { models }] },
    async register(ctx) {
      const create = factory ?? (await importFactory<O>(definition.module, definition.exportName));
      for (const model of models) ctx.registry.add(create(model));
    },
  };
}

async function importFactory<O>(module: string, exportName: string): Promise<ProviderFactory<O>> {
  const exported = ((await import(module)) as Record<string, unknown>)[exportName];
  if (typeof exported !== 'function') throw new Error(`${module} has no function export "${exportName}"`);
  return exported as ProviderFactory<O>;
}
