import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '@lab/core';
import { z } from 'zod';
import { QueueEnvSchema, type QueueSettings, queueSettings } from './queue/settings.js';

/** The bundled models folder, `apps/api/models/` (next to `src/` and `dist/`). */
export const BUNDLED_MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'models');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const EnvSchema = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  GENLAB_MODELS_DIR: z.string().min(1).optional(),
  GENLAB_POOL_SIZE: int(0, 64).optional(),
  GENLAB_QUEUE_SIZE: int(0, 10_000).default(16),
  GENLAB_API_TOKEN: z.string().min(1).optional(),
  GENLAB_TIMEOUT_MS: int(100, 3_600_000).default(120_000),
  GENLAB_BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/i)
    .default('2mb'),
  GENLAB_CORS_ORIGINS: z.string().optional(),
  GENLAB_PREVIEW_EVERY: int(1, 1000).default(10),
  GENLAB_SHUTDOWN_GRACE_MS: int(0, 600_000).default(30_000),
  GENLAB_BACKEND: z.string().optional(),
  ...QueueEnvSchema.shape,
});

/** Every setting of the API server; see apps/api/README.md. */
export interface ApiConfig {
  readonly port: number;
  readonly host: string;
  readonly modelsDir: string;
  /**
   * Worker threads for sampling; 0 runs jobs in-process (tests, debugging). With a queue, the
   * threads of this process's own queue worker (default 0: the API samples nothing).
   */
  readonly poolSize: number;
  /** Jobs allowed to wait beyond the running ones; more → 429. */
  readonly queueSize: number;
  /** Bearer token for the POST routes; none = open. */
  readonly token?: string;
  readonly timeoutMs: number;
  readonly bodyLimit: string;
  /** Allowed CORS origins; undefined = CORS off, ['*'] = any. */
  readonly corsOrigins?: readonly string[];
  readonly previewEvery: number;
  readonly shutdownGraceMs: number;
  /** Forced tfjs backend for the workers (cpu, wasm, …); default: initBackend's choice. */
  readonly backend?: string;
  /** The shared job queue (GENLAB_QUEUE_URL set): jobs go to Redis, workers anywhere sample them. */
  readonly queue?: QueueSettings;
}

/** Reads the configuration from environment variables; throws ValidationError naming the bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): ApiConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`Bad setting ${String(issue?.path[0])}: ${issue?.message}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    modelsDir: resolve(e.GENLAB_MODELS_DIR ?? BUNDLED_MODELS_DIR),
    poolSize: e.GENLAB_POOL_SIZE ?? (e.GENLAB_QUEUE_URL ? 0 : 1),
    queueSize: e.GENLAB_QUEUE_SIZE,
    ...(e.GENLAB_API_TOKEN ? { token: e.GENLAB_API_TOKEN } : {}),
    timeoutMs: e.GENLAB_TIMEOUT_MS,
    bodyLimit: e.GENLAB_BODY_LIMIT,
    ...(e.GENLAB_CORS_ORIGINS
      ? {
          corsOrigins: e.GENLAB_CORS_ORIGINS.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : {}),
    previewEvery: e.GENLAB_PREVIEW_EVERY,
    shutdownGraceMs: e.GENLAB_SHUTDOWN_GRACE_MS,
    ...(e.GENLAB_BACKEND ? { backend: e.GENLAB_BACKEND } : {}),
    ...(e.GENLAB_QUEUE_URL ? { queue: queueSettings(e) } : {}),
  };
}
