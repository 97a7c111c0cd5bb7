import { projectConfig } from '../vitest.shared.js';

/** `npx vitest run --config bench/vitest.config.ts`: the bench's own helpers (not part of `npm test`). */
export default projectConfig({ include: ['test/**/*.test.ts'] });
