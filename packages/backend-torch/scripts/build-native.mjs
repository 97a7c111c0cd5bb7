// Builds the LibTorch addon (build/Release/genlab_torch.node) with node-gyp.
//
// As the package's install script it never fails the install: without LibTorch, or when the
// build fails, it writes the reason to build/skipped.json (which `initBackend` reports) and
// exits 0, so genlab still installs and runs on wasm. `--strict` (the `build:native` script)
// exits 1 instead, for a user who builds the addon on purpose after installing LibTorch.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibTorch } from './libtorch.mjs';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const skippedFile = join(packageDir, 'build', 'skipped.json');
const addonFile = join(packageDir, 'build', 'Release', 'genlab_torch.node');

function skip(reason) {
  mkdirSync(dirname(skippedFile), { recursive: true });
  writeFileSync(skippedFile, `${JSON.stringify({ reason, at: new Date().toISOString() }, null, 2)}\n`);
  console.warn(`@lab/backend-torch: the LibTorch addon was not built: ${reason}`);
  console.warn('@lab/backend-torch: genlab runs on its other backends; build it later with `npm run build:native -w @lab/backend-torch`.');
  process.exit(strict ? 1 : 0);
}

if (process.env.GENLAB_SKIP_TORCH_BUILD === '1') skip('GENLAB_SKIP_TORCH_BUILD=1');
const libtorch = findLibTorch();
if (libtorch.source === undefined) skip(libtorch.reason);

/** node-gyp: the one npm runs scripts with, npm's bundled copy, or an installed one. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

const nodeGyp = findNodeGyp();
if (nodeGyp === undefined) skip('node-gyp not found (it comes with npm; or `npm install -g node-gyp`)');

const args = [nodeGyp, 'rebuild'];
// node-gyp downloads Node's headers unless told where they are; distributions' Node packages
// (Debian's among them) install them under /usr/include/node.
const nodeDir = process.env.npm_config_nodedir;
if (nodeDir) args.push(`--nodedir=${nodeDir}`);
else if (existsSync('/usr/include/node/node_api.h') && process.execPath.startsWith('/usr/bin/')) args.push('--nodedir=/usr');
args.push(`--jobs=${Math.max(1, Math.min(4, (await import('node:os')).availableParallelism()))}`);

console.log(
  `@lab/backend-torch: building the LibTorch addon against ${libtorch.source}${libtorch.cuda ? ' (with CUDA)' : ''} (about a minute)…`,
);
const started = Date.now();
const result = spawnSync(process.execPath, args, { cwd: packageDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
if (result.status !== 0) {
  const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim().split('\n');
  const errorLine = output.find((line) => /error/i.test(line)) ?? output.at(-1) ?? 'unknown error';
  if (strict) console.error(output.slice(-40).join('\n'));
  skip(`node-gyp failed: ${errorLine.trim()}`);
}
// Loading proves the libraries resolve at run time, not just at link time.
const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addonFile)})`], { encoding: 'utf8' });
if (check.status !== 0) skip(`the addon built but does not load: ${(check.stderr ?? '').trim().split('\n')[0]}`);
rmSync(skippedFile, { force: true });
console.log(`@lab/backend-torch: built ${addonFile} in ${((Date.now() - started) / 1000).toFixed(0)} s.`);
