import type { GenlabPlugin } from './plugin.js';
import type { ProviderFactory } from './provider.js';
import { MODEL_REGISTRY } from './registry.js';

/** A plugin that serves models through one exported provider factory. */
export interface ProviderPluginDefinition<O> {
  readonly name: string;
  readonly version: string;
  /** The package that exports `factory` as `exportName`: worker threads rebuild providers from it. */
  readonly module: string;
  readonly exportName: string;
  readonly factory: ProviderFactory<O>;
}

/**
 * Builds a plugin that registers one provider per model (`{models: [...]}` or a single
 * options object) with the host's ModelRegistry, each with the spec workers rebuild it from.
 */
export function providerPlugin<O extends object>(
  definition: ProviderPluginDefinition<O>,
  options: { readonly models: readonly O[] } | O,
): GenlabPlugin {
  const models = 'models' in options ? (options as { readonly models: readonly O[] }).models : [options as O];
  return {
    name: definition.name,
    version: definition.version,
    register(ctx) {
      const registry = ctx.container.resolve(MODEL_REGISTRY);
      for (const model of models) {
        registry.add(definition.factory(model), {
          spec: { module: definition.module, exportName: definition.exportName, options: model },
        });
      }
    },
  };
}
