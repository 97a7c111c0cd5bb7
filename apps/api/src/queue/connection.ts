import { Redis, type RedisOptions } from 'ioredis';
import type { QueueSettings } from './settings.js';

/**
 * How a connection behaves while Redis is away:
 * - `request`: serving HTTP requests, so commands fail at once (no offline queue) and the
 *   caller answers 503 instead of hanging;
 * - `blocking`: BullMQ workers, queue events and subscribers, which wait and reconnect forever.
 */
export type ConnectionRole = 'request' | 'blocking';

/** An ioredis client for the queue URL (password and `rediss://` TLS options included). */
export function createRedis(settings: QueueSettings, role: ConnectionRole, name?: string): Redis {
  const options: RedisOptions = {
    // Reconnect quickly after a Redis restart, at most every 2 s.
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    ...(name ? { connectionName: name } : {}),
    ...(role === 'request' ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { maxRetriesPerRequest: null }),
    ...(settings.url.startsWith('rediss://') ? { tls: { ...settings.tls } } : {}),
    lazyConnect: true,
  };
  const redis = new Redis(settings.url, options);
  guardSocketErrors(redis);
  redis.connect().catch(() => undefined); // failures reach the 'error' listeners; reconnects follow retryStrategy
  return redis;
}

/**
 * ioredis 6 listens for its socket's errors with `once` until the connection is up, and a TLS
 * handshake that fails can raise two (the refused certificate, then the server's alert): the
 * second had no listener and was an uncaught exception, which would end the process. Every
 * socket it opens gets a listener of its own; ioredis still reports the first error.
 */
function guardSocketErrors(redis: Redis): void {
  const connector = (redis as unknown as { connector: { connect: (...args: unknown[]) => Promise<NodeJS.EventEmitter> } }).connector;
  const connect = connector.connect.bind(connector);
  connector.connect = async (...args: unknown[]) => {
    const stream = await connect(...args);
    stream.on('error', () => undefined);
    return stream;
  };
}

/** The BullMQ queue of one model: a worker takes jobs only from the queues of models it loaded. */
export function queueName(model: string): string {
  return `model.${model}`;
}

/** genlab's own keys and channels, under the same prefix as BullMQ's. */
export function queueKeys(prefix: string) {
  return {
    result: (jobId: string) => `${prefix}:result:${jobId}`,
    cancel: (jobId: string) => `${prefix}:cancel:${jobId}`,
    progress: (jobId: string) => `${prefix}:progress:${jobId}`,
    cancelChannel: `${prefix}:cancel`,
  };
}

/** The URL with its password masked, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*):[^@/]*@/, '//$1:***@');
}
