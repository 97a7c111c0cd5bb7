import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** The redis-server binary, or undefined when it is not installed. */
export function redisServerBinary(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

/** Whether a missing redis-server fails the run (CI sets GENLAB_REQUIRE_REDIS=1) instead of skipping. */
export const REDIS_REQUIRED = process.env.GENLAB_REQUIRE_REDIS === '1';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server at once (SIGKILL: no save), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real redis-server on a free loopback port, without persistence; password-protected when
 * `password` is given, TLS-only (`rediss://`, no client certificates) when `tls` names a
 * certificate and key.
 */
export async function startRedis(options: { password?: string; tls?: { certFile: string; keyFile: string } } = {}): Promise<TestRedis> {
  const binary = redisServerBinary();
  if (!binary) throw new Error('redis-server is not installed (apt-get install redis-server)');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  if (options.tls) {
    const { certFile, keyFile } = options.tls;
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', certFile, '--tls-key-file', keyFile);
    args.push('--tls-ca-cert-file', certFile, '--tls-auth-clients', 'no');
  } else args.push('--port', String(port));
  if (options.password) args.push('--requirepass', options.password);
  const start = async () => {
    const proc = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    // Never outlive the test process, even when a test times out before its cleanup.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Ready to accept connections')) resolve();
      };
      proc.stdout?.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${log}`)));
    });
  };
  const kill = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return { port, url: `${options.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`, kill, start, stop: kill };
}

/** Writes a self-signed certificate for 127.0.0.1 into `dir` with openssl; undefined when openssl is missing. */
export function selfSignedCertificate(dir: string): { certFile: string; keyFile: string } | undefined {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1'].concat([
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]),
    { stdio: 'ignore' },
  );
  return made.status === 0 ? { certFile, keyFile } : undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no free port');
  return address.port;
}
