import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Logger, NotFoundError, silentLogger, UnavailableError, ValidationError } from '@lab/core';
import * as tar from 'tar';
import {
  CIFAR_RECORD_BYTES,
  CIFAR_TEST_FILES,
  CIFAR_TRAIN_FILES,
  type CifarRecords,
  concatRecords,
  parseCifarBatch,
} from './cifar10-format.js';

/** The official archive of the binary version, and its published md5. */
export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
/** The folder name inside the archive (and the one `--data-dir` usually points at). */
export const CIFAR10_DIR_NAME = 'cifar-10-batches-bin';

/** Fetches a URL's bytes; injected so tests can serve an archive from memory. */
export type Fetcher = (url: string) => Promise<Uint8Array>;

export const defaultFetcher: Fetcher = async (url) => {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
};

export interface CifarSourceOptions {
  /** An existing `cifar-10-batches-bin` directory (`--data-dir`); wins over everything else. */
  dataDir?: string;
  /** Environment to read `GENLAB_CIFAR10_DIR` and `GENLAB_CACHE` from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Cache root (default `GENLAB_CACHE` or `~/.cache/genlab`). */
  cacheDir?: string;
  fetcher?: Fetcher;
  url?: string;
  md5?: string;
  logger?: Logger;
}

/** The cache root: `GENLAB_CACHE` or `~/.cache/genlab`. */
export function genlabCacheDir(env: Record<string, string | undefined> = process.env): string {
  return env.GENLAB_CACHE || join(homedir(), '.cache', 'genlab');
}

/**
 * Finds (or downloads once) the CIFAR-10 binary batches and returns their directory.
 *
 * Order: `dataDir`, then `GENLAB_CIFAR10_DIR`, then `<cache>/cifar-10-batches-bin`, then a download of
 * the official archive, verified by md5 and extracted into the cache (through a temporary folder that is
 * renamed into place, so an interrupted extraction never looks complete).
 */
export async function resolveCifarDir(options: CifarSourceOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const given = options.dataDir ?? env.GENLAB_CIFAR10_DIR;
  if (given) {
    await assertBatchDir(given);
    return given;
  }
  const cacheDir = options.cacheDir ?? genlabCacheDir(env);
  const cached = join(cacheDir, CIFAR10_DIR_NAME);
  if (existsSync(join(cached, CIFAR_TEST_FILES[0]))) return cached;
  await downloadAndExtract(cacheDir, options);
  await assertBatchDir(cached);
  return cached;
}

async function downloadAndExtract(cacheDir: string, options: CifarSourceOptions): Promise<void> {
  const url = options.url ?? CIFAR10_URL;
  const logger = options.logger ?? silentLogger;
  logger.info('downloading CIFAR-10 (about 170 MB)', { url });
  let bytes: Uint8Array;
  try {
    bytes = await (options.fetcher ?? defaultFetcher)(url);
  } catch (error) {
    throw new UnavailableError(
      `Could not download CIFAR-10 from ${url} (${error instanceof Error ? error.message : String(error)}). ` +
        `Supply the data instead: download cifar-10-binary.tar.gz on a machine with network access, extract it, and pass ` +
        `--data-dir <path>/${CIFAR10_DIR_NAME} or set GENLAB_CIFAR10_DIR; or extract it into ${cacheDir} so that ` +
        `${join(cacheDir, CIFAR10_DIR_NAME)} exists.`,
      { cause: error },
    );
  }
  const expectedMd5 = options.md5 ?? CIFAR10_MD5;
  const md5 = createHash('md5').update(bytes).digest('hex');
  if (md5 !== expectedMd5) {
    throw new ValidationError(
      `CIFAR-10 archive from ${url} has md5 ${md5}, expected ${expectedMd5} (${bytes.length} bytes): refusing to use it`,
      {
        details: { url, md5, expectedMd5 },
      },
    );
  }
  await mkdir(cacheDir, { recursive: true });
  const staging = join(cacheDir, `.extract-${process.pid}-${Date.now()}`);
  await mkdir(staging, { recursive: true });
  try {
    await pipeline(Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]), tar.x({ cwd: staging, strict: true }));
    const extracted = join(staging, CIFAR10_DIR_NAME);
    if (!existsSync(extracted)) throw new ValidationError(`CIFAR-10 archive from ${url} has no ${CIFAR10_DIR_NAME}/ folder`);
    const target = join(cacheDir, CIFAR10_DIR_NAME);
    await rm(target, { recursive: true, force: true });
    await rename(extracted, target);
    logger.info('CIFAR-10 extracted', { dir: target });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function assertBatchDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    throw new NotFoundError(
      `CIFAR-10 directory ${dir} does not exist or cannot be read (expected ${CIFAR10_DIR_NAME} with data_batch_*.bin)`,
    );
  }
  const missing = [...CIFAR_TRAIN_FILES, ...CIFAR_TEST_FILES].filter((f) => !names.includes(f));
  if (missing.length > 0) {
    throw new NotFoundError(`CIFAR-10 directory ${dir} lacks ${missing.join(', ')} (expected the binary version, ${CIFAR10_DIR_NAME})`);
  }
}

export type CifarSplit = 'train' | 'test';

export interface LoadCifarOptions {
  /**
   * Records each file must hold. Default: as many as `data_batch_1.bin` holds (10,000 in the
   * official set; fewer in small fixtures), so a file cut short by whole records is caught too.
   */
  expectedRecordsPerFile?: number;
  /** Read at most this many records (from the first files). */
  limit?: number;
}

/** Reads and parses the batch files of one split from a `cifar-10-batches-bin` directory. */
export async function loadCifarSplit(dir: string, split: CifarSplit, options: LoadCifarOptions = {}): Promise<CifarRecords> {
  const files = split === 'train' ? CIFAR_TRAIN_FILES : CIFAR_TEST_FILES;
  const reference = join(dir, CIFAR_TRAIN_FILES[0]);
  const referenceSize = existsSync(reference) ? (await stat(reference)).size : 0;
  const expectedRecords =
    options.expectedRecordsPerFile ??
    (referenceSize > 0 && referenceSize % CIFAR_RECORD_BYTES === 0 ? referenceSize / CIFAR_RECORD_BYTES : undefined);
  const parts: CifarRecords[] = [];
  let total = 0;
  for (const name of files) {
    if (options.limit !== undefined && total >= options.limit) break;
    const path = join(dir, name);
    const bytes = new Uint8Array(await readFile(path));
    const part = parseCifarBatch(bytes, path, expectedRecords !== undefined ? { expectedRecords } : {});
    parts.push(part);
    total += part.count;
  }
  const all = concatRecords(parts);
  if (options.limit === undefined || all.count <= options.limit) return all;
  const n = options.limit;
  return { pixels: all.pixels.slice(0, n * 3072), labels: all.labels.slice(0, n), count: n };
}
