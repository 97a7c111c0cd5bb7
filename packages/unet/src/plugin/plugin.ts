import { type GenlabPlugin, providerPlugin } from '@lab/api-plugin';
import { createDiffusionProvider, type DiffusionProviderOptions } from './provider.js';

export interface DiffusionPluginOptions {
  /** One entry per served model. */
  readonly models: readonly DiffusionProviderOptions[];
}

/**
 * The diffusion model plugin: registers one provider per configured checkpoint with the
 * host's ModelRegistry (capabilities: unconditional, class-conditional when the UNet has
 * labels, inpaint). Worker threads rebuild the same providers from `@lab/unet/plugin`'s
 * `createDiffusionProvider`.
 */
export function diffusionPlugin(options: DiffusionPluginOptions | DiffusionProviderOptions): GenlabPlugin {
  return providerPlugin(
    {
      name: '@lab/unet/diffusion',
      version: '0.1.0',
      host: '^0.1.0 || ^0.2.0',
      module: '@lab/unet/plugin',
      exportName: 'createDiffusionProvider',
      factory: createDiffusionProvider,
    },
    options,
  );
}
