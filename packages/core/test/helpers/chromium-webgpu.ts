import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { builtinModules } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

/**
 * The project's usual headless flags, plus WebGPU on SwiftShader: Chromium's CPU implementation
 * of Vulkan gives a WebGPU adapter on machines without a GPU, so the webgpu backend's kernels can
 * be checked for correctness here (not for speed).
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
];

// biome-ignore lint/suspicious/noExplicitAny: a page API is any object of async functions
type PageApi = Record<string, (...args: any[]) => unknown>;

export interface WebgpuSession<Api extends PageApi> {
  /** Calls `window.genlab[name](...args)` in the page (arguments and results cross as JSON). */
  call<K extends keyof Api & string>(name: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>>;
  close(): Promise<void>;
}

/**
 * Bundles `entry` (a module that sets `window.genlab`) with esbuild, serves it on localhost
 * (WebGPU needs a secure context) and opens it in Chromium with a SwiftShader WebGPU adapter.
 */
export async function openWebgpuPage<Api extends PageApi>(entry: URL): Promise<WebgpuSession<Api>> {
  const { build } = await import('esbuild');
  const bundle = await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['@lab/source'],
    // Node built-ins (checkpoint files, the wasm loader) are imported by packages the page uses
    // but never called there: empty CommonJS stubs let named imports bundle.
    plugins: [
      {
        name: 'stub-node-builtins',
        setup(b) {
          const names = builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|');
          b.onResolve({ filter: new RegExp(`^(node:.*|${names})$`) }, (args) => ({ path: args.path, namespace: 'node-stub' }));
          b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
        },
      },
    ],
    write: false,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]?.contents;
  if (!script) throw new Error('esbuild produced no bundle');
  const server: Server = createServer((request, response) => {
    if (request.url === '/entry.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    } else {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/entry.js"></script>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const { chromium } = await import('playwright-core');
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    const page: Page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://localhost:${port}/`);
    await page
      .waitForFunction(() => 'genlab' in window, undefined, { timeout: 30_000 })
      .catch(() => {
        throw new Error(`the WebGPU test page did not load: ${errors.join('; ') || 'no page error'}`);
      });
    const opened = browser;
    return {
      call: (name, ...args) =>
        page.evaluate(
          ([n, a]) =>
            (window as unknown as { genlab: Record<string, (...x: unknown[]) => unknown> }).genlab[n as string]?.(...(a as unknown[])),
          [name, args] as const,
        ) as never,
      async close() {
        await opened.close();
        server.close();
      },
    };
  } catch (error) {
    await browser?.close();
    server.close();
    throw error;
  }
}
