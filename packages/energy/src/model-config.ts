import { ValidationError } from '@lab/core';
import { type ContrastiveEnergyConfig, isContrastiveEnergyConfig, parseContrastiveEnergyConfig } from './contrastive/config.js';
import { isScoreEnergyConfig, parseScoreEnergyConfig, type ScoreEnergyConfig } from './score/config.js';

/** The config of an energy model: trained by contrastive divergence, or by denoising score matching (`objective: 'dsm'`). */
export type EnergyModelConfig = ContrastiveEnergyConfig | ScoreEnergyConfig;

/** Reads the stored config of an energy model of either objective; ValidationError names the bad field. */
export function parseEnergyConfig(config: unknown): EnergyModelConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ValidationError('energy config: must be an object');
  const record = config as Record<string, unknown>;
  if (isScoreEnergyConfig(record)) return parseScoreEnergyConfig(record);
  if (isContrastiveEnergyConfig(record)) return parseContrastiveEnergyConfig(record);
  throw new ValidationError(`energy config: objective ${JSON.stringify(record.objective)} is unknown (expected "cd" or "dsm")`, {
    details: { field: 'objective' },
  });
}
