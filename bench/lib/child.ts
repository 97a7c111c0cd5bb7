import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How a child run ended: its parsed JSON result, or why there is none. */
export type ChildOutcome<T> = { ok: true; value: T; seconds: number } | { ok: false; reason: string; seconds: number; stderrTail: string };

export interface ChildOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the child (SIGKILL) after this long. */
  timeoutMs: number;
  /** Receives the child's stderr lines (progress, warnings). */
  onStderr?: (line: string) => void;
}

/** The last `n` informative lines (no stack frames, no Node version banner, no minified source). */
function lastLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !l.startsWith('Node.js v') && l.length < 400 && !/^\^+$/.test(l))
    .slice(-n)
    .join(' | ');
}

/** Collects a child's stderr (returned by the getter) and passes each non-empty line to `onLine`. */
export function collectStderr(child: ChildProcess, onLine?: (line: string) => void): () => string {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderr += text;
    if (onLine) for (const line of text.split('\n')) if (line.trim()) onLine(line);
  });
  return () => stderr;
}

/**
 * Runs `command args…` and parses the JSON the child leaves in the file named by `{out}`
 * (placeholder replaced in `args`) or, when no arg holds `{out}`, on the last line of stdout.
 */
export function runJsonChild<T>(command: string, args: string[], options: ChildOptions): Promise<ChildOutcome<T>> {
  const dir = mkdtempSync(join(tmpdir(), 'genlab-bench-'));
  const outFile = join(dir, 'result.json');
  const usesFile = args.some((a) => a.includes('{out}'));
  const finalArgs = args.map((a) => a.replaceAll('{out}', outFile));
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, finalArgs, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const readStderr = collectStderr(child, options.onStderr);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const finish = (outcome: ChildOutcome<T>) => {
        rmSync(dir, { recursive: true, force: true });
        resolve(outcome);
      };
      const stderr = readStderr();
      const stderrTail = stderr.slice(-4000);
      if (timedOut)
        return finish({ ok: false, reason: `stopped after ${Math.round(options.timeoutMs / 1000)} s (time limit)`, seconds, stderrTail });
      if (code !== 0) {
        const why = lastLines(stderr || stdout, 2) || `signal ${signal}`;
        return finish({ ok: false, reason: `exit ${code ?? signal}: ${why}`, seconds, stderrTail });
      }
      try {
        const text = usesFile ? readFileSync(outFile, 'utf8') : (stdout.trim().split('\n').pop() ?? '');
        finish({ ok: true, value: JSON.parse(text) as T, seconds });
      } catch (error) {
        finish({
          ok: false,
          reason: `no JSON result: ${error instanceof Error ? error.message : String(error)}`,
          seconds,
          stderrTail: stderr.slice(-4000),
        });
      }
    });
  });
}

/** Arguments that run a TypeScript file of this repo with node + tsx, resolving `@lab/*` to their sources. */
export function tsxArgs(file: string, args: string[]): string[] {
  return ['--conditions=@lab/source', '--import', 'tsx', file, ...args];
}
