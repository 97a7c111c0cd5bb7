import * as torch from '@lab/backend-torch';
import type { ModuleLoader } from '@lab/core';

/**
 * `initBackend`'s module loader for an esbuild bundle: the bundle cannot resolve the default
 * dynamic `import('@lab/backend-torch')`, so the backend is bundled and handed over here.
 */
export const bundledTorchLoader: ModuleLoader = async (specifier) => {
  if (specifier === '@lab/backend-torch') return torch;
  throw Object.assign(new Error(`${specifier} is not in this bundle`), { code: 'ERR_MODULE_NOT_FOUND' });
};
