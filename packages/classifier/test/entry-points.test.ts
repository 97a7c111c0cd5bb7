import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { modulesLoadedBy } from '../../../testing/module-graph.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const servingCode = (url: string) => url.includes('/packages/api-plugin/') || url.includes('/node_modules/zod/');

describe('entry points', () => {
  it('the main entry loads no serving code (@lab/api-plugin, zod)', async () => {
    const loaded = await modulesLoadedBy('@lab/classifier', packageDir);
    expect(loaded.some((url) => url.endsWith('/packages/classifier/src/classifier.ts'))).toBe(true);
    expect(loaded.filter(servingCode)).toEqual([]);
  });

  it('the plugin subpath does load @lab/api-plugin (the check above sees it when it is there)', async () => {
    const loaded = await modulesLoadedBy('@lab/classifier/plugin', packageDir);
    expect(loaded.some((url) => url.endsWith('/packages/api-plugin/src/index.ts'))).toBe(true);
  });

  it('the plugin subpath registers the GenlabDropout layer that saved classifiers hold', async () => {
    const loaded = await modulesLoadedBy('@lab/classifier/plugin', packageDir);
    expect(loaded.some((url) => url.endsWith('/packages/classifier/src/dropout-layer.ts'))).toBe(true);
  });
});
