import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { sendProblem } from './problem.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Sets `res.locals.requestId` (the caller's X-Request-Id when it is safe, else a UUID) and echoes it. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const id = given && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.set('X-Request-Id', id);
    next();
  };
}

/** Requires `Authorization: Bearer <token>` when a token is configured; otherwise lets everything through. */
export function bearerAuth(token: string | undefined): RequestHandler {
  if (!token) return (_req, _res, next) => next();
  const expected = Buffer.from(token);
  return (req, res, next) => {
    const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    const given = Buffer.from(match?.[1] ?? '');
    if (given.length === expected.length && timingSafeEqual(given, expected)) {
      next();
      return;
    }
    res.set('WWW-Authenticate', 'Bearer');
    sendProblem(res, {
      type: 'urn:genlab:problem:unauthorized',
      title: 'Unauthorized',
      status: 401,
      detail: 'A valid bearer token is required',
    });
  };
}
