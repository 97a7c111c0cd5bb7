/**
 * Prints `torchStatus()` of `@lab/backend-torch` as one JSON line on stdout, in its own process
 * (so that the bench's parent process never loads LibTorch): whether the tfjs torch backend can
 * run here, and if so which LibTorch, BLAS and threads it would use with this environment.
 *
 *   GENLAB_TORCH_THREADS=2 node --conditions=@lab/source --import tsx bench/lib/torch-status.ts
 */
import { torchStatus } from '@lab/backend-torch';

const status = torchStatus();
process.stdout.write(
  `${JSON.stringify(status.available ? { available: true, detail: status.detail, settings: status.settings } : status)}\n`,
);
