import { projectConfig } from '../vitest.shared.js';

/** The bench's own helpers; `npm test` runs them through nx (project `bench`). */
export default projectConfig({ include: ['test/**/*.test.ts'] });
