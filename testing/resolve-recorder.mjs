// Module-resolution hooks (node:module `register`) that append every resolved URL to the file
// named by GENLAB_RESOLVE_LOG: the module graph an import really loads, transitive ones included.
import { appendFileSync } from 'node:fs';

const log = process.env.GENLAB_RESOLVE_LOG;

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (log) appendFileSync(log, `${result.url}\n`);
  return result;
}
