import { createRequire } from 'node:module';
import semver from 'semver';

/**
 * The version of this `@lab/api-plugin`, the host every plugin's `host` range is checked against.
 * Read from package.json (one level above both `src/` and `dist/`), so a release bump needs no code change.
 */
export const API_PLUGIN_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Whether `range` is a semver range that semver can parse (`^0.2.0`, `0.x`, `>=1 <3`). */
export function isValidHostRange(range: string): boolean {
  return semver.validRange(range) !== null;
}

/** Whether the host `version` satisfies `range` (pre-releases included, as fastify-plugin does). */
export function hostSatisfies(range: string, version: string = API_PLUGIN_VERSION): boolean {
  return semver.satisfies(version, range, { includePrerelease: true });
}
