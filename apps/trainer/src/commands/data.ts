import type { Logger } from '@lab/core';
import { type CifarRecords, filterClasses } from '../data/cifar10-format.js';
import { type CifarSplit, type Fetcher, loadCifarSplit, resolveCifarDir } from '../data/cifar10-source.js';

/** Where the CIFAR-10 data comes from (CLI flags and injected pieces). */
export interface DataOptions {
  dataDir?: string;
  env?: Record<string, string | undefined>;
  fetcher?: Fetcher;
  logger?: Logger;
  /** Only these classes. */
  classes?: number[];
  /** At most this many records (before the class filter). */
  limit?: number;
}

/** Finds or downloads CIFAR-10 and loads one split, filtered. */
export async function loadSplit(split: CifarSplit, options: DataOptions): Promise<{ dir: string; records: CifarRecords }> {
  const dir = await resolveCifarDir({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.fetcher ? { fetcher: options.fetcher } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let records = await loadCifarSplit(dir, split, options.limit !== undefined ? { limit: options.limit } : {});
  if (options.classes && options.classes.length > 0) records = filterClasses(records, options.classes);
  return { dir, records };
}
