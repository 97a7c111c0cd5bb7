import { UnavailableError } from '@lab/core';
import { describe, expect, it } from 'vitest';
import { createGenlabRouter } from '../src/express/index.js';
import {
  API_PLUGIN_VERSION,
  createPluginContainer,
  type GenlabPlugin,
  instanceCachingFactory,
  MODEL_REGISTRY,
  ModelRegistry,
  PluginRegistrationError,
  pluginSources,
  providerPlugin,
  registerPluginSources,
  registerPlugins,
  token,
} from '../src/index.js';
import { orderPlugins } from '../src/register.js';
import { greetedModelPlugin, greetingPlugin } from './fixtures/source-plugins.js';

const providerNamed = (id: string) => ({
  id,
  kind: 'classifier' as const,
  load: async () => ({ capabilities: ['classify' as const], samplers: [], defaultSteps: 1, maxSteps: 1, imageShape: [2, 2, 3] as const }),
  dispose: () => undefined,
});

const plugin = (name: string, dependencies: string[] = [], log: string[] = [], host?: string): GenlabPlugin => ({
  name,
  version: '1.0.0',
  dependencies,
  ...(host === undefined ? {} : { host }),
  register: () => {
    log.push(name);
  },
});

/** A fresh app container, as every host builds one (the registry is resolved from it). */
const app = () => ({ container: createPluginContainer() });

describe('plugin registration', () => {
  it('registers in dependency order, keeping input order otherwise', async () => {
    const log: string[] = [];
    const order = await registerPlugins(
      [plugin('api', ['diffusion', 'energy'], log), plugin('diffusion', ['core'], log), plugin('energy', [], log), plugin('core', [], log)],
      app(),
    );
    expect(order).toEqual(['core', 'diffusion', 'energy', 'api']);
    expect(log).toEqual(order);
  });

  it('lets a plugin resolve, by a typed token, the services its dependency registered into the container', async () => {
    const ANSWER = token<{ value: number }>('test.answer');
    const DOUBLED = token<number>('test.doubled');
    let seen = 0;
    let built = 0;
    const provider: GenlabPlugin = {
      name: 'provider',
      version: '1',
      register: (ctx) => {
        ctx.container.register(ANSWER, { useValue: { value: 21 } });
        // A factory runs on the first resolve, with the container it is resolved from.
        ctx.container.register(DOUBLED, { useFactory: instanceCachingFactory((c) => ++built && c.resolve(ANSWER).value * 2) });
      },
    };
    const consumer: GenlabPlugin = {
      name: 'consumer',
      version: '1',
      dependencies: ['provider'],
      register: (ctx) => {
        seen = ctx.container.resolve(DOUBLED);
      },
    };
    const { container } = app();
    await registerPlugins([consumer, provider], { container });
    expect(seen).toBe(42);
    expect(container.resolve(DOUBLED)).toBe(42);
    expect(built).toBe(1);
    expect(container.resolve(ANSWER)).toEqual({ value: 21 });
  });

  it('resolves the registry from the container, and gives it to register as ctx.registry too', async () => {
    const models = new ModelRegistry();
    const container = createPluginContainer({ registry: models });
    expect(container.resolve(MODEL_REGISTRY)).toBe(models);
    let same = false;
    const check: GenlabPlugin = {
      name: 'check',
      version: '1',
      dependencies: ['greeted-model'],
      register: (ctx) => {
        same = ctx.registry === ctx.container.resolve(MODEL_REGISTRY);
      },
    };
    await registerPlugins([greetingPlugin('hello'), greetedModelPlugin(), check], {
      container,
      routesFor: () => ({ get: () => undefined, post: () => undefined, use: () => undefined }),
    });
    expect(models.ids()).toEqual(['hello']);
    expect(same).toBe(true);
    expect(createPluginContainer().resolve(MODEL_REGISTRY)).toBeInstanceOf(ModelRegistry);
  });

  it('fails clearly, naming the token and the likely cause, when a plugin resolves what nobody registered', async () => {
    const MISSING = token<string>('test.never-registered');
    const { container } = app();
    expect(() => container.resolve(MISSING)).toThrow(UnavailableError);
    expect(() => container.resolve(MISSING)).toThrow(
      'Nothing is registered for "test.never-registered" in this app\'s container: is the plugin that registers it listed in this plugin\'s dependencies',
    );
    const needy: GenlabPlugin = { name: 'needy', version: '1', register: (ctx) => void ctx.container.resolve(MISSING) };
    await expect(registerPlugins([needy], { container })).rejects.toMatchObject({
      reason: 'register',
      plugin: 'needy',
      message: expect.stringContaining('Plugin "needy" failed to register: Nothing is registered for "test.never-registered"'),
    });
  });

  it('keeps two apps in one process apart: each has its own container, registry and registrations', async () => {
    const SHARED = token<string>('test.per-app');
    const named = (value: string): GenlabPlugin => ({
      name: 'named',
      version: '1',
      register: (ctx) => {
        ctx.container.register(SHARED, { useValue: value });
        ctx.registry.add(providerNamed(value));
      },
    });
    const a = await createGenlabRouter({ plugins: [named('a')] });
    const b = await createGenlabRouter({ plugins: [named('b')] });
    const bare = await createGenlabRouter({ plugins: [] });
    try {
      expect(a.container.resolve(SHARED)).toBe('a');
      expect(b.container.resolve(SHARED)).toBe('b');
      expect(() => bare.container.resolve(SHARED)).toThrow(/Nothing is registered for "test.per-app"/);
      expect(a.registry).not.toBe(b.registry);
      expect(a.registry.ids()).toEqual(['a']);
      expect(b.registry.ids()).toEqual(['b']);
      expect(a.container.resolve(MODEL_REGISTRY)).toBe(a.registry);
    } finally {
      await Promise.all([a.close(), b.close(), bare.close()]);
    }
  });

  it('fails fast naming a missing dependency, before registering anything', async () => {
    const log: string[] = [];
    const attempt = registerPlugins([plugin('core', [], log), plugin('diffusion', ['samplers'], log)], app());
    await expect(attempt).rejects.toThrow(/"diffusion" depends on "samplers", which is not registered/);
    await expect(attempt).rejects.toMatchObject({ reason: 'missing', plugin: 'diffusion' });
    expect(log).toEqual([]);
  });

  it('fails fast naming the plugin, its host range and the host version when the range excludes this host', async () => {
    const log: string[] = [];
    const attempt = registerPlugins([plugin('core', [], log, `>=${API_PLUGIN_VERSION}`), plugin('future', [], log, '^99.0.0')], {
      container: createPluginContainer(),
    });
    await expect(attempt).rejects.toThrow(
      `Plugin "future" needs @lab/api-plugin ^99.0.0, but the host is @lab/api-plugin ${API_PLUGIN_VERSION}`,
    );
    await expect(attempt).rejects.toMatchObject({
      reason: 'host',
      plugin: 'future',
      details: { range: '^99.0.0', hostVersion: API_PLUGIN_VERSION },
    });
    expect(log).toEqual([]);
  });

  it('accepts a plugin whose host range admits this host, and rejects a range that is not semver', async () => {
    await expect(registerPlugins([plugin('ok', [], [], API_PLUGIN_VERSION.replace(/^(\d+)\..*/, '$1.x'))], app())).resolves.toEqual(['ok']);
    await expect(registerPlugins([plugin('odd', [], [], 'soon')], app())).rejects.toMatchObject({
      reason: 'invalid',
      message: 'Plugin "odd" has an invalid host range "soon"',
    });
  });

  it('reads the host version from its package.json', async () => {
    const { default: pkg } = await import('../package.json', { with: { type: 'json' } });
    expect(API_PLUGIN_VERSION).toBe(pkg.version);
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
    await expect(registerPlugins([bad, plugin('after', ['bad'], log)], app())).rejects.toThrow('Plugin "bad" failed to register: boom');
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
      container: createPluginContainer(),
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

describe('plugin sources (how workers run register)', () => {
  const fixture = new URL('./fixtures/source-plugins.ts', import.meta.url).href;

  it('rebuilds every plugin from its source and runs its register, routes ignored', async () => {
    const sources = pluginSources([greetedModelPlugin(), greetingPlugin('from-a-worker')]);
    expect(structuredClone(sources)).toEqual(sources);
    const { container } = app();
    expect(await registerPluginSources(sources, { container })).toEqual(['greeting', 'greeted-model']);
    expect(container.resolve(MODEL_REGISTRY).ids()).toEqual(['from-a-worker']);
  });

  it('rebuilds a providerPlugin, importing its factory by name', async () => {
    const built = providerPlugin(
      { name: 'echo', version: '1.0.0', host: `^${API_PLUGIN_VERSION}`, module: fixture, exportName: 'createEchoProvider' },
      { models: [{ id: 'a' }, { id: 'b' }] },
    );
    const sources = pluginSources([built]);
    expect(sources[0]).toMatchObject({ module: '@lab/api-plugin', exportName: 'providerPlugin' });
    const models = new ModelRegistry();
    await registerPluginSources(structuredClone(sources), { container: createPluginContainer({ registry: models }) });
    expect(models.ids()).toEqual(['a', 'b']);
    await models.loadAll();
    expect(models.describe('a').status).toBe('ready');
  });

  it('fails fast naming a plugin without a source, and checks dependencies and host ranges again', async () => {
    expect(() => pluginSources([plugin('inline')])).toThrow('Plugin "inline" has no source, so worker threads cannot run its register');
    await expect(registerPluginSources(pluginSources([greetedModelPlugin()]), app())).rejects.toMatchObject({
      reason: 'missing',
      plugin: 'greeted-model',
    });
    const future = { ...greetingPlugin('x'), host: '>=99' };
    await expect(registerPlugins([future], app())).rejects.toMatchObject({ reason: 'host', plugin: 'greeting' });
  });
});
