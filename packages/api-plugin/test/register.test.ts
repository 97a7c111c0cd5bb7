import { createChildContainer, createToken } from '@lab/core';
import { describe, expect, it } from 'vitest';
import { type GenlabPlugin, PluginRegistrationError, registerPlugins } from '../src/index.js';
import { orderPlugins } from '../src/register.js';

const plugin = (name: string, dependencies: string[] = [], log: string[] = []): GenlabPlugin => ({
  name,
  version: '1.0.0',
  dependencies,
  register: () => {
    log.push(name);
  },
});

describe('plugin registration', () => {
  it('registers in dependency order, keeping input order otherwise', async () => {
    const log: string[] = [];
    const order = await registerPlugins(
      [plugin('api', ['diffusion', 'energy'], log), plugin('diffusion', ['core'], log), plugin('energy', [], log), plugin('core', [], log)],
      {
        container: createChildContainer(),
      },
    );
    expect(order).toEqual(['core', 'diffusion', 'energy', 'api']);
    expect(log).toEqual(order);
  });

  it('lets a plugin resolve what its dependency registered in the shared container', async () => {
    const TOKEN = createToken<{ value: number }>('test.shared');
    let seen = 0;
    const provider: GenlabPlugin = {
      name: 'provider',
      version: '1',
      register: (ctx) => void ctx.container.registerInstance(TOKEN, { value: 42 }),
    };
    const consumer: GenlabPlugin = {
      name: 'consumer',
      version: '1',
      dependencies: ['provider'],
      register: (ctx) => {
        seen = ctx.container.resolve(TOKEN).value;
      },
    };
    await registerPlugins([consumer, provider], { container: createChildContainer() });
    expect(seen).toBe(42);
  });

  it('fails fast naming a missing dependency, before registering anything', async () => {
    const log: string[] = [];
    const attempt = registerPlugins([plugin('core', [], log), plugin('diffusion', ['samplers'], log)], {
      container: createChildContainer(),
    });
    await expect(attempt).rejects.toThrow(/"diffusion" depends on "samplers"/);
    await expect(attempt).rejects.toMatchObject({ reason: 'missing', plugin: 'diffusion' });
    expect(log).toEqual([]);
  });

  it('fails fast naming a duplicate plugin', () => {
    expect(() => orderPlugins([plugin('energy'), plugin('energy')])).toThrow(/"energy" is registered twice/);
  });

  it('names the cycle', () => {
    try {
      orderPlugins([plugin('a', ['b']), plugin('b', ['c']), plugin('c', ['a'])]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PluginRegistrationError);
      expect((error as PluginRegistrationError).reason).toBe('cycle');
      expect((error as Error).message).toContain('a -> b -> c -> a');
    }
  });

  it('wraps a failing register with the plugin name and stops there', async () => {
    const log: string[] = [];
    const bad: GenlabPlugin = {
      name: 'bad',
      version: '1',
      register: () => {
        throw new Error('boom');
      },
    };
    await expect(registerPlugins([bad, plugin('after', ['bad'], log)], { container: createChildContainer() })).rejects.toThrow(
      'Plugin "bad" failed to register: boom',
    );
    expect(log).toEqual([]);
  });

  it('gives each plugin its own config section and router', async () => {
    const seen: Record<string, unknown> = {};
    const routers: string[] = [];
    const p: GenlabPlugin<{ dir: string }> = {
      name: 'p',
      version: '1',
      register: (ctx) => {
        seen.p = ctx.config?.dir;
      },
    };
    await registerPlugins([p as GenlabPlugin], {
      container: createChildContainer(),
      config: { p: { dir: '/models' } },
      routesFor: (pl) => {
        routers.push(pl.name);
        return { get: () => undefined, post: () => undefined, use: () => undefined };
      },
    });
    expect(seen.p).toBe('/models');
    expect(routers).toEqual(['p']);
  });
});
