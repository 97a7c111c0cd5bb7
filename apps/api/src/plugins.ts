import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GenlabPlugin } from '@lab/api-plugin';
import { classifierPlugin } from '@lab/classifier/plugin';
import { MANIFEST_FILE } from '@lab/core';
import { energyPlugin } from '@lab/energy/plugin';
import { diffusionPlugin } from '@lab/unet/plugin';

/** The model ids the server always lists (unavailable with a reason when their folder is missing). */
export const DEFAULT_MODELS = { diffusion: 'ddpm-cifar10', energy: 'ebm-cifar10', classifier: 'classifier-cifar10' } as const;

type Kind = keyof typeof DEFAULT_MODELS;

/**
 * One plugin per model kind, serving the default ids plus every other `<modelsDir>/<id>/genlab.json`
 * (its `kind` decides the plugin).
 */
export function defaultPlugins(modelsDir: string): GenlabPlugin[] {
  const ids: Record<Kind, string[]> = {
    diffusion: [DEFAULT_MODELS.diffusion],
    energy: [DEFAULT_MODELS.energy],
    classifier: [DEFAULT_MODELS.classifier],
  };
  for (const { id, kind } of discoverModels(modelsDir)) if (!ids[kind].includes(id)) ids[kind].push(id);
  const models = (kind: Kind) => ids[kind].map((id) => ({ id, dir: join(modelsDir, id) }));
  return [
    diffusionPlugin({ models: models('diffusion') }),
    energyPlugin({ models: models('energy') }),
    classifierPlugin({ models: models('classifier') }),
  ];
}

/** Model folders under `modelsDir` whose manifest names a known kind; unreadable ones are skipped. */
export function discoverModels(modelsDir: string): Array<{ id: string; kind: Kind }> {
  if (!existsSync(modelsDir)) return [];
  const found: Array<{ id: string; kind: Kind }> = [];
  for (const entry of readdirSync(modelsDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(entry.name)) continue;
    try {
      const manifest = JSON.parse(readFileSync(join(modelsDir, entry.name, MANIFEST_FILE), 'utf8')) as { kind?: string };
      if (manifest.kind === 'diffusion' || manifest.kind === 'energy' || manifest.kind === 'classifier')
        found.push({ id: entry.name, kind: manifest.kind });
    } catch {
      // Missing or corrupt manifests are reported by the plugin that owns the default id, or ignored.
    }
  }
  return found;
}
