import { NotFoundError, UnavailableError, ValidationError } from '@lab/core';
import type { Capability, ModelInfo, ModelKind, ModelProvider } from './provider.js';

export type ModelStatus = 'loading' | 'ready' | 'unavailable';

/** One model as `GET /v1/models` shows it. */
export interface ModelDescriptor {
  readonly id: string;
  readonly kind: ModelKind;
  readonly status: ModelStatus;
  /** Why the model is unavailable. */
  readonly reason?: string;
  readonly capabilities: readonly Capability[];
  readonly info?: ModelInfo;
  readonly manifest?: Readonly<Record<string, unknown>>;
}

interface Entry {
  provider: ModelProvider;
  status: ModelStatus;
  reason?: string;
  info?: ModelInfo;
  loading?: Promise<void>;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** True for ids that are safe as a path segment (no slashes, no `..`). */
export function isValidModelId(id: string): boolean {
  return ID_PATTERN.test(id) && !id.includes('..');
}

/**
 * The models the API serves. Plugins `add` providers; the host calls `loadAll` once.
 * A provider whose load fails stays listed as unavailable with the reason.
 */
export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();

  /** Adds a provider in the `loading` state. */
  add(provider: ModelProvider): void {
    if (!isValidModelId(provider.id)) throw new ValidationError(`Invalid model id "${provider.id}"`);
    if (this.entries.has(provider.id)) throw new ValidationError(`Model "${provider.id}" is registered twice`);
    this.entries.set(provider.id, { provider, status: 'loading' });
  }

  /** Loads one model; never throws: a failure marks it unavailable. */
  async load(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) throw new NotFoundError(`Unknown model "${id}"`);
    entry.loading ??= (async () => {
      try {
        entry.info = await entry.provider.load();
        entry.status = 'ready';
        delete entry.reason;
      } catch (error) {
        entry.status = 'unavailable';
        entry.reason = error instanceof Error ? error.message : String(error);
      }
    })();
    await entry.loading;
  }

  async loadAll(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((id) => this.load(id)));
  }

  /** Marks a model unavailable (e.g. its worker failed to load it). */
  markUnavailable(id: string, reason: string): void {
    const entry = this.entries.get(id);
    if (entry) {
      entry.status = 'unavailable';
      entry.reason = reason;
    }
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** True when no model is still loading. */
  settled(): boolean {
    return [...this.entries.values()].every((e) => e.status !== 'loading');
  }

  describe(id: string): ModelDescriptor {
    const entry = this.entries.get(id);
    if (!entry) throw new NotFoundError(`Unknown model "${id}"`, { details: { model: id } });
    return {
      id,
      kind: entry.provider.kind,
      status: entry.status,
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
      capabilities: entry.info?.capabilities ?? [],
      ...(entry.info ? { info: entry.info } : {}),
      ...(entry.info?.manifest ? { manifest: entry.info.manifest } : {}),
    };
  }

  list(): ModelDescriptor[] {
    return this.ids().map((id) => this.describe(id));
  }

  /**
   * The ready provider for `id`, checked for `capability`.
   * Throws NotFoundError (unknown id), UnavailableError (not ready) or ValidationError (capability missing).
   */
  require(id: string, capability?: Capability): { provider: ModelProvider; info: ModelInfo } {
    const entry = this.entries.get(id);
    if (!entry) throw new NotFoundError(`Unknown model "${id}"`, { details: { model: id } });
    if (entry.status !== 'ready' || !entry.info) {
      throw new UnavailableError(`Model "${id}" is ${entry.status}${entry.reason ? `: ${entry.reason}` : ''}`, { details: { model: id } });
    }
    if (capability && !entry.info.capabilities.includes(capability)) {
      throw new ValidationError(`Model "${id}" cannot ${capability}`, { details: { model: id, capability } });
    }
    return { provider: entry.provider, info: entry.info };
  }

  /** The first ready model with a capability (and kind, when given), e.g. the classifier for /v1/classify. */
  findReady(capability: Capability, kind?: ModelKind): string | undefined {
    return this.ids().find((id) => {
      const e = this.entries.get(id);
      return e?.status === 'ready' && e.info?.capabilities.includes(capability) && (kind === undefined || e.provider.kind === kind);
    });
  }

  /** The first registered model of a kind, ready or not (to report why it is unavailable). */
  findByKind(kind: ModelKind): string | undefined {
    return this.ids().find((id) => this.entries.get(id)?.provider.kind === kind);
  }

  dispose(): void {
    for (const entry of this.entries.values()) entry.provider.dispose();
    this.entries.clear();
  }
}
