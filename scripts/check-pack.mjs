#!/usr/bin/env node
// Checks that every public package packs cleanly: built JS and .d.ts for its entry
// points, a README, and no tests, TypeScript sources or files of other packages.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

let problems = 0;
for (const name of readdirSync('packages')) {
  const dir = join('packages', name);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (manifest.private) continue;
  const [report] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' }));
  const files = report.files.map((f) => f.path);
  const fail = (why) => {
    problems++;
    console.error(`${manifest.name}: ${why}`);
  };
  for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
    if (typeof target === 'string') continue;
    for (const key of ['types', 'default']) {
      const file = target[key]?.replace(/^\.\//, '');
      if (file && !files.includes(file)) fail(`export "${subpath}" (${key}) points to ${file}, which is not in the tarball`);
    }
  }
  if (!files.includes('README.md')) fail('no README.md');
  for (const file of files) {
    if (/\.test\.|__fixtures__|(^|\/)test\//.test(file)) fail(`ships a test file: ${file}`);
    if (/\.ts$/.test(file) && !/\.d\.ts$/.test(file)) fail(`ships a TypeScript source: ${file}`);
    if (file.startsWith('..') || file.includes('node_modules')) fail(`ships a foreign file: ${file}`);
  }
  console.log(`${manifest.name}@${manifest.version}: ${files.length} files, ${(report.unpackedSize / 1024).toFixed(1)} kB unpacked`);
}
if (problems > 0) {
  console.error(`${problems} packaging problem(s)`);
  process.exit(1);
}
