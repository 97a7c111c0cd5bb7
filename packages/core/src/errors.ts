/**
 * The few error kinds genlab raises on purpose. Each carries a stable `code`
 * that the API maps to an HTTP status (validation → 400, not found → 404,
 * unavailable → 503, overloaded → 429, cancelled → 499/408), so callers never
 * have to parse messages.
 */
export type GenlabErrorCode = 'validation' | 'not_found' | 'unavailable' | 'overloaded' | 'cancelled' | 'checkpoint';

export class GenlabError extends Error {
  readonly code: GenlabErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: GenlabErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

/** Bad input from a caller: a wrong shape, an out-of-range number, a file that is not an image. */
export class ValidationError extends GenlabError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('validation', message, options);
  }
}

/** A named thing (model, run, checkpoint) does not exist. */
export class NotFoundError extends GenlabError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('not_found', message, options);
  }
}

/** A thing exists but cannot serve now (model failed to load, backend missing). */
export class UnavailableError extends GenlabError {
  constructor(message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super('unavailable', message, options);
  }
}

/** Too much work queued; try again after `retryAfterSeconds`. */
export class OverloadedError extends GenlabError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds = 1, options?: { cause?: unknown }) {
    super('overloaded', message, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Work stopped by an AbortSignal or a timeout. */
export class CancelledError extends GenlabError {
  constructor(message = 'The operation was cancelled', options?: { cause?: unknown }) {
    super('cancelled', message, options);
  }
}

/** A checkpoint file is missing, truncated or inconsistent; `file` names it. */
export class CheckpointError extends GenlabError {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('checkpoint', `${message} (${file})`, options);
    this.file = file;
  }
}

/** Throws CancelledError when `signal` has been aborted. Call it between steps of long work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const reason = signal.reason;
    throw reason instanceof CancelledError
      ? reason
      : new CancelledError(reason instanceof Error ? reason.message : undefined, { cause: reason });
  }
}

export function isGenlabError(value: unknown): value is GenlabError {
  return value instanceof GenlabError;
}
