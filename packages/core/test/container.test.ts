import 'reflect-metadata';
import { container as rootContainer } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import type { BackendInfo } from '../src/backend/types.js';
import { createGenlabContainer } from '../src/container.js';
import { pngCodec } from '../src/images/codec.js';
import { silentLogger } from '../src/logger.js';
import { Rng } from '../src/rng.js';
import { TOKENS } from '../src/tokens.js';

const backendInfo: BackendInfo = { name: 'cpu', tfBackend: 'cpu', detail: 'test', skipped: [], forced: true };

describe('createGenlabContainer', () => {
  it('resolves every shared service by its token', () => {
    const rng = new Rng(5);
    const c = createGenlabContainer({ backendInfo, logger: silentLogger, rng });
    expect(c.resolve(TOKENS.BackendInfo)).toBe(backendInfo);
    expect(c.resolve(TOKENS.Logger)).toBe(silentLogger);
    expect(c.resolve(TOKENS.Rng)).toBe(rng);
    expect(c.resolve(TOKENS.ImageCodec)).toBe(pngCodec);
  });

  it('registers in a child, leaving the global container and sibling containers untouched', () => {
    const a = createGenlabContainer({ backendInfo, logger: silentLogger, rng: new Rng(1) });
    const b = createGenlabContainer({ backendInfo, logger: silentLogger, rng: new Rng(2) });
    expect(a.resolve(TOKENS.Rng)).not.toBe(b.resolve(TOKENS.Rng));
    expect(rootContainer.isRegistered(TOKENS.Rng)).toBe(false);
  });

  it('defaults to a fresh Rng', () => {
    const c = createGenlabContainer({ backendInfo, logger: silentLogger });
    expect(c.resolve(TOKENS.Rng)).toBeInstanceOf(Rng);
  });
});
