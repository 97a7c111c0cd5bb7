import { readFileSync } from 'node:fs';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The queue's environment variables (merged into the API's settings; the worker reads the same). */
export const QueueEnvSchema = z.object({
  GENLAB_QUEUE_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  GENLAB_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/)
    .default('genlab'),
  GENLAB_QUEUE_RESULT_TTL_S: int(1, 86_400).default(600),
  GENLAB_QUEUE_LOCK_MS: int(500, 600_000).default(30_000),
  GENLAB_QUEUE_MAX_STALLS: int(0, 10).default(1),
  GENLAB_QUEUE_TLS_CA: z.string().min(1).optional(),
  GENLAB_QUEUE_TLS_CERT: z.string().min(1).optional(),
  GENLAB_QUEUE_TLS_KEY: z.string().min(1).optional(),
  GENLAB_QUEUE_TLS_INSECURE: z.enum(['0', '1', 'true', 'false']).optional(),
});

type QueueEnv = z.output<typeof QueueEnvSchema>;

/** TLS options for `rediss://` URLs, handed to Node's `tls.connect` as they are. */
export interface QueueTlsOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized?: boolean;
}

/** Where the shared queue lives and how its jobs behave; see docs/deploy.md. */
export interface QueueSettings {
  /** `redis://[:password@]host:port[/db]` or `rediss://…` (TLS). */
  readonly url: string;
  /** Namespace of every key genlab and BullMQ write. */
  readonly prefix: string;
  /** How long a finished job's result waits in Redis for its API node (seconds). */
  readonly resultTtlSeconds: number;
  /** A worker's lock on a running job; a worker silent for this long counts as dead (stalled). */
  readonly lockMs: number;
  /** How often a job may stall (its worker died) and be taken over before it fails with 503. */
  readonly maxStalls: number;
  readonly tls?: QueueTlsOptions;
}

/** Builds the settings from parsed environment variables (TLS files are read here). */
export function queueSettings(e: QueueEnv & { GENLAB_QUEUE_URL?: string | undefined }): QueueSettings {
  if (!e.GENLAB_QUEUE_URL) throw new Error('GENLAB_QUEUE_URL is not set');
  const read = (file: string | undefined) => (file ? readFileSync(file, 'utf8') : undefined);
  const tls: QueueTlsOptions = {
    ...(e.GENLAB_QUEUE_TLS_CA ? { ca: read(e.GENLAB_QUEUE_TLS_CA) as string } : {}),
    ...(e.GENLAB_QUEUE_TLS_CERT ? { cert: read(e.GENLAB_QUEUE_TLS_CERT) as string } : {}),
    ...(e.GENLAB_QUEUE_TLS_KEY ? { key: read(e.GENLAB_QUEUE_TLS_KEY) as string } : {}),
    ...(e.GENLAB_QUEUE_TLS_INSECURE === '1' || e.GENLAB_QUEUE_TLS_INSECURE === 'true' ? { rejectUnauthorized: false } : {}),
  };
  return {
    url: e.GENLAB_QUEUE_URL,
    prefix: e.GENLAB_QUEUE_PREFIX,
    resultTtlSeconds: e.GENLAB_QUEUE_RESULT_TTL_S,
    lockMs: e.GENLAB_QUEUE_LOCK_MS,
    maxStalls: e.GENLAB_QUEUE_MAX_STALLS,
    ...(Object.keys(tls).length ? { tls } : {}),
  };
}
