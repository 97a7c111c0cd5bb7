import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';

/** Where a checkpoint's bytes go. Injected in tests to fail a save midway. */
export interface CheckpointWriter {
  /** Writes `data` to `file` (creating folders) and makes it durable. */
  writeFile(file: string, data: Uint8Array | string): Promise<void>;
}

/** Writes with `fs`, then fsyncs the file so a crash after rename cannot expose an empty one. */
export const fsWriter: CheckpointWriter = {
  async writeFile(file, data) {
    await mkdir(path.dirname(file), { recursive: true });
    const handle = await open(file, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** fsyncs a directory so renames inside it are durable (best effort: not every OS allows it). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open directories; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}
