import type { JobExecutor, ModelRegistry } from '@lab/api-plugin';
import type { JobEvent } from '@lab/api-plugin/express';
import type { RequestHandler } from 'express';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one server: HTTP requests, jobs, queue depth, model status. */
export interface ApiMetrics {
  readonly registry: Registry;
  /** Middleware timing every request by method, route and status. */
  readonly http: RequestHandler;
  readonly onJob: (event: JobEvent) => void;
}

export function createMetrics(models: ModelRegistry, executor: () => JobExecutor | undefined): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'genlab_' });
  const requests = new Histogram({
    name: 'genlab_http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.02, 0.1, 0.5, 1, 2, 5, 15, 60],
    registers: [registry],
  });
  const jobs = new Counter({
    name: 'genlab_jobs_total',
    help: 'Jobs by model, op and outcome',
    labelNames: ['model', 'op', 'outcome'] as const,
    registers: [registry],
  });
  const jobSeconds = new Histogram({
    name: 'genlab_job_duration_seconds',
    help: 'Job duration (queue + run) by model and op',
    labelNames: ['model', 'op'] as const,
    buckets: [0.05, 0.2, 1, 5, 20, 60, 300],
    registers: [registry],
  });
  new Gauge({
    name: 'genlab_queue_jobs',
    help: 'Jobs running and waiting',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const stats = executor()?.stats();
      this.set({ state: 'running' }, stats?.running ?? 0);
      this.set({ state: 'queued' }, stats?.queued ?? 0);
    },
  });
  new Gauge({
    name: 'genlab_model_ready',
    help: '1 when a model is ready, 0 otherwise',
    labelNames: ['model', 'kind', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const m of models.list()) this.set({ model: m.id, kind: m.kind, status: m.status }, m.status === 'ready' ? 1 : 0);
    },
  });
  const http: RequestHandler = (req, res, next) => {
    const end = requests.startTimer();
    res.on('finish', () => {
      // The matched route pattern keeps label cardinality bounded (never the raw URL).
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      end({ method: req.method, route: `${req.baseUrl}${route}`, status: String(res.statusCode) });
    });
    next();
  };
  return {
    registry,
    http,
    onJob: (event) => {
      jobs.inc({ model: event.model, op: event.op, outcome: event.outcome });
      jobSeconds.observe({ model: event.model, op: event.op }, event.durationMs / 1000);
    },
  };
}
