#!/usr/bin/env node
// Checks docs/theory.md against the programs in scripts/theory/: every snippet the doc quotes must be
// the file's exact text, and what the file prints when run must be the output the doc claims.
//
// In the doc a snippet is an HTML comment `<!-- snippet: NAME -->` followed by a fenced block holding
// scripts/theory/NAME.py, and its output is `<!-- output: NAME -->` followed by a fenced block: the
// program's stdout and, when it fails, the last line of its traceback (the exception and message).
//
// Snippets that import torch run only when the Python interpreter can import it (Debian's
// python3-torch); without it they are reported as skipped and the script still exits 0.
// Environment: THEORY_PYTHON overrides the interpreter (default /usr/bin/python3, then python3).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docPath = join(root, 'docs', 'theory.md');
const snippetDir = join(root, 'scripts', 'theory');
const INSTALL_HINT = 'sudo apt-get update && sudo apt-get install -y python3-torch   (Debian/Ubuntu; then rerun npm run verify:theory)';

/** Trailing whitespace and trailing blank lines never count as a difference. */
function normalise(text) {
  return text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trim();
}

/** Maps NAME → block text for every `<!-- KIND: NAME -->` marker followed by a fenced block. */
function blocksOf(doc, kind) {
  const found = new Map();
  const marker = new RegExp(`<!--\\s*${kind}:\\s*([\\w-]+)\\s*-->\\s*\\n(\`{3,})[^\\n]*\\n([\\s\\S]*?)\\n\\2[ \\t]*(?:\\n|$)`, 'g');
  for (const match of doc.matchAll(marker)) {
    const [, name, , body] = match;
    if (found.has(name)) throw new Error(`docs/theory.md has two "${kind}: ${name}" blocks`);
    found.set(name, body);
  }
  return found;
}

function findPython() {
  const candidates = process.env.THEORY_PYTHON ? [process.env.THEORY_PYTHON] : ['/usr/bin/python3', 'python3'];
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return null;
}

/** Runs one program; returns what the doc should show: stdout, plus the traceback's last line on failure. */
function run(python, file) {
  const result = spawnSync(python, [file], { cwd: snippetDir, encoding: 'utf8', timeout: 120_000 });
  if (result.error) return { text: `could not run: ${result.error.message}`, status: -1 };
  let text = result.stdout;
  if (result.status !== 0) {
    const lastLine = result.stderr.trim().split('\n').at(-1) ?? '';
    text += `${text.endsWith('\n') || text === '' ? '' : '\n'}${lastLine}`;
  }
  return { text, status: result.status };
}

function main() {
  const doc = readFileSync(docPath, 'utf8');
  const sources = blocksOf(doc, 'snippet');
  const outputs = blocksOf(doc, 'output');
  const files = readdirSync(snippetDir)
    .filter((name) => name.endsWith('.py'))
    .sort();
  const problems = [];

  // The doc and the folder must describe the same set of programs, with the same text.
  for (const file of files) {
    const name = file.slice(0, -3);
    const source = sources.get(name);
    if (source === undefined) problems.push(`${name}: scripts/theory/${file} is not quoted in docs/theory.md (<!-- snippet: ${name} -->)`);
    else if (normalise(source) !== normalise(readFileSync(join(snippetDir, file), 'utf8')))
      problems.push(`${name}: the snippet in docs/theory.md differs from scripts/theory/${file}`);
    if (!outputs.has(name)) problems.push(`${name}: docs/theory.md gives no expected output (<!-- output: ${name} -->)`);
  }
  for (const name of new Set([...sources.keys(), ...outputs.keys()])) {
    if (!existsSync(join(snippetDir, `${name}.py`)))
      problems.push(`${name}: docs/theory.md refers to scripts/theory/${name}.py, which does not exist`);
  }

  const python = findPython();
  const hasTorch = python !== null && spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  if (python === null) console.log('verify:theory: no Python interpreter found (set THEORY_PYTHON); not running the snippets');
  else if (hasTorch) {
    const version = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout.trim();
    console.log(`verify:theory: ${python} with torch ${version}`);
  } else console.log(`verify:theory: ${python} cannot import torch; torch snippets are skipped. Install it with:\n  ${INSTALL_HINT}`);

  let passed = 0;
  const skipped = [];
  for (const file of files) {
    const name = file.slice(0, -3);
    const source = readFileSync(join(snippetDir, file), 'utf8');
    const needsTorch = /^\s*(import|from)\s+torch\b/m.test(source);
    if (python === null || (needsTorch && !hasTorch) || !outputs.has(name)) {
      skipped.push(name);
      continue;
    }
    const { text } = run(python, file);
    const expected = normalise(outputs.get(name));
    const actual = normalise(text);
    if (actual === expected) {
      passed++;
      console.log(`  ok       ${name}`);
    } else {
      console.log(`  FAIL     ${name}`);
      problems.push(`${name}: output differs from docs/theory.md\n--- doc says\n${expected}\n--- program printed\n${actual}`);
    }
  }
  for (const name of skipped) console.log(`  skipped  ${name}`);

  for (const problem of problems) console.error(`\n${problem}`);
  const summary = `${passed} matched, ${problems.length} problems, ${skipped.length} skipped`;
  if (problems.length > 0) {
    console.error(`\nverify:theory: ${summary}`);
    process.exit(1);
  }
  console.log(`verify:theory: ${summary}${skipped.length > 0 ? ` (skipped: install python3-torch to run them: ${INSTALL_HINT})` : ''}`);
}

main();
