import { CancelledError, type GenlabError, isGenlabError, OverloadedError, ValidationError } from '@lab/core';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { ZodError } from 'zod';

/** A job ran past the per-request timeout (503, unlike a client's own cancel). */
export class JobTimeoutError extends CancelledError {
  constructor(readonly timeoutMs: number) {
    super(`Timed out after ${timeoutMs} ms`);
  }
}

/** An RFC 9457 problem document. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  requestId?: string;
  errors?: Array<{ path: string; message: string }>;
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const STATUS_BY_CODE: Record<GenlabError['code'], number> = {
  validation: 400,
  not_found: 404,
  unavailable: 503,
  overloaded: 429,
  cancelled: 499,
  checkpoint: 503,
};

/** Turns zod issues into a ValidationError whose details list each failing path. */
export function zodToValidationError(error: ZodError, where: string): ValidationError {
  const errors = error.issues.map((issue) => ({ path: issue.path.join('.') || where, message: issue.message }));
  const first = errors[0];
  return new ValidationError(first ? `Invalid ${where}: ${first.path}: ${first.message}` : `Invalid ${where}`, { details: { errors } });
}

/** Maps any thrown value to a status and problem document (internal errors keep their message private). */
export function problemFromError(error: unknown): { problem: Problem; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  if (isGenlabError(error)) {
    let status = STATUS_BY_CODE[error.code] ?? 500;
    if (error instanceof JobTimeoutError) status = 503;
    if (error instanceof OverloadedError) headers['Retry-After'] = String(error.retryAfterSeconds);
    const problem: Problem = {
      type: `urn:genlab:problem:${error.code}`,
      title: TITLES[status] ?? error.name,
      status,
      detail: error.message,
    };
    const errors = error.details?.errors;
    if (Array.isArray(errors)) problem.errors = errors as Problem['errors'];
    return { problem, headers };
  }
  // body-parser and other http-errors carry a 4xx status and an expose flag.
  const httpError = error as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
  const status = httpError.status ?? httpError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const detail =
      httpError.type === 'entity.parse.failed' ? 'The body is not valid JSON' : httpError.expose ? httpError.message : undefined;
    return {
      problem: {
        type: `urn:genlab:problem:http-${status}`,
        title: TITLES[status] ?? 'Client Error',
        status,
        ...(detail ? { detail } : {}),
      },
      headers,
    };
  }
  return {
    problem: { type: 'urn:genlab:problem:internal', title: TITLES[500] as string, status: 500, detail: 'An internal error occurred' },
    headers,
  };
}

/** Sends a problem document with `application/problem+json`. */
export function sendProblem(res: Response, problem: Problem, headers: Record<string, string> = {}): void {
  const requestId = res.locals.requestId as string | undefined;
  const body: Problem = { ...problem, instance: problem.instance ?? res.req.originalUrl, ...(requestId ? { requestId } : {}) };
  res.status(problem.status).set(headers).type('application/problem+json').send(JSON.stringify(body));
}

/** The last error middleware: every error becomes problem+json; 5xx are logged. */
export function problemHandler(options: { log?: (error: unknown, problem: Problem) => void } = {}): ErrorRequestHandler {
  return (error, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const { problem, headers } = problemFromError(error);
    options.log?.(error, problem);
    sendProblem(res, problem, headers);
  };
}

/** 404 problem for any unmatched route. */
export function notFoundHandler(): RequestHandler {
  return (req, res) =>
    sendProblem(res, {
      type: 'urn:genlab:problem:not_found',
      title: 'Not Found',
      status: 404,
      detail: `No route for ${req.method} ${req.path}`,
    });
}
