import { describe, expect, it } from 'vitest';
import {
  API_PLUGIN_VERSION,
  type GenlabPlugin,
  ModelRegistry,
  PluginRegistrationError,
  pluginSources,
  providerPlugin,
  registerPluginSources,
  registerPlugins,
  Services,
  serviceKey,
} from '../src/index.js';
import { orderPlugins } from '../src/register.js';
import { greetedModelPlugin, greetingPlugin } from './fixtures/source-plugins.js';

const plugin = (name: string, dependencies: string[] = [], log: string[] = [], host?: string): GenlabPlugin => ({
  name,
  version: '1.0.0',
  dependencies,
  ...(host === undefined ? {} : { host }),
  register: () => {
    log.push(name);
  },
});

const registry = () => new ModelRegistry();

describe('plugin registration', () => {
  it('registers in dependency order, keeping input order otherwise', async () => {
    const log: string[] = [];
    const order = await registerPlugins(
      [plugin('api', ['diffusion', 'energy'], log), plugin('diffusion', ['core'], log), plugin('energy', [], log), plugin('core', [], log)],
      { registry: registry() },
    );
    expect(order).toEqual(['core', 'diffusion', 'energy', 'api']);
    expect(log).toEqual(order);
  });

  it('lets a plugin read the services its dependency provided, by a typed key', async () => {
    const ANSWER = serviceKey<{ value: number }>('test.shared');
    let seen = 0;
    const provider: GenlabPlugin = { name: 'provider', version: '1', register: (ctx) => ctx.services.provide(ANSWER, { value: 42 }) };
    const consumer: GenlabPlugin = {
      name: 'consumer',
      version: '1',
      dependencies: ['provider'],
      register: (ctx) => {
        seen = ctx.services.get(ANSWER).value;
      },
    };
    const services = new Services();
    await registerPlugins([consumer, provider], { registry: registry(), services });
    expect(seen).toBe(42);
    expect(services.get(ANSWER)).toEqual({ value: 42 });
    expect(() => new Services().get(ANSWER)).toThrow('No plugin provided the service "test.shared"');
  });

  it('adds models to the registry it is given', async () => {
    const models = registry();
    await registerPlugins([greetingPlugin('hello'), greetedModelPlugin()], {
      registry: models,
      routesFor: () => ({ get: () => undefined, post: () => undefined, use: () => undefined }),
    });
    expect(models.ids()).toEqual(['hello']);
  });

  it('fails fast naming a missing dependency, before registering anything', async () => {
    const log: string[] = [];
    const attempt = registerPlugins([plugin('core', [], log), plugin('diffusion', ['samplers'], log)], { registry: registry() });
    await expect(attempt).rejects.toThrow(/"diffusion" depends on "samplers", which is not registered/);
    await expect(attempt).rejects.toMatchObject({ reason: 'missing', plugin: 'diffusion' });
    expect(log).toEqual([]);
  });

  it('fails fast naming the plugin, its host range and the host version when the range excludes this host', async () => {
    const log: string[] = [];
    const attempt = registerPlugins([plugin('core', [], log, `>=${API_PLUGIN_VERSION}`), plugin('future', [], log, '^99.0.0')], {
      registry: registry(),
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
    await expect(
      registerPlugins([plugin('ok', [], [], API_PLUGIN_VERSION.replace(/^(\d+)\..*/, '$1.x'))], { registry: registry() }),
    ).resolves.toEqual(['ok']);
    await expect(registerPlugins([plugin('odd', [], [], 'soon')], { registry: registry() })).rejects.toMatchObject({
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
    await expect(registerPlugins([bad, plugin('after', ['bad'], log)], { registry: registry() })).rejects.toThrow(
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
      registry: registry(),
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
    const models = registry();
    expect(await registerPluginSources(sources, { registry: models })).toEqual(['greeting', 'greeted-model']);
    expect(models.ids()).toEqual(['from-a-worker']);
  });

  it('rebuilds a providerPlugin, importing its factory by name', async () => {
    const built = providerPlugin(
      { name: 'echo', version: '1.0.0', host: `^${API_PLUGIN_VERSION}`, module: fixture, exportName: 'createEchoProvider' },
      { models: [{ id: 'a' }, { id: 'b' }] },
    );
    const sources = pluginSources([built]);
    expect(sources[0]).toMatchObject({ module: '@lab/api-plugin', exportName: 'providerPlugin' });
    const models = registry();
    await registerPluginSources(structuredClone(sources), { registry: models });
    expect(models.ids()).toEqual(['a', 'b']);
    await models.loadAll();
    expect(models.describe('a').status).toBe('ready');
  });

  it('fails fast naming a plugin without a source, and checks dependencies and host ranges again', async () => {
    expect(() => pluginSources([plugin('inline')])).toThrow('Plugin "inline" has no source, so worker threads cannot run its register');
    await expect(registerPluginSources(pluginSources([greetedModelPlugin()]), { registry: registry() })).rejects.toMatchObject({
      reason: 'missing',
      plugin: 'greeted-model',
    });
    const future = { ...greetingPlugin('x'), host: '>=99' };
    await expect(registerPlugins([future], { registry: registry() })).rejects.toMatchObject({ reason: 'host', plugin: 'greeting' });
  });
});
