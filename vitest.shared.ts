import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Every project tests against the TypeScript sources of its sibling packages
 * (the "@lab/source" export condition), so `npm test` needs no build first.
 */
export function projectConfig(overrides: { testTimeout?: number; include?: string[] } = {}) {
  return defineConfig({
    resolve: { conditions: ['@lab/source'] },
    ssr: { resolve: { conditions: ['@lab/source'], externalConditions: ['@lab/source'] } },
    test: {
      include: overrides.include ?? ['src/**/*.test.ts', 'test/**/*.test.ts'],
      // The WebGPU files compare webgpu in Chromium with tfjs-backend-cpu whatever the backend
      // under test; the torch run (GENLAB_BACKEND=torch, scripts/test.mjs) need not repeat them.
      exclude: process.env.GENLAB_BACKEND === 'torch' ? [...configDefaults.exclude, '**/*webgpu*'] : configDefaults.exclude,
      environment: 'node',
      pool: 'forks',
      testTimeout: overrides.testTimeout ?? 60_000,
      hookTimeout: 120_000,
      reporters: ['default', ['json', { outputFile: 'test-results/results.json' }]],
    },
  });
}
