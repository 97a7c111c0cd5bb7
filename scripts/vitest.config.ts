import { projectConfig } from '../vitest.shared.js';

/** Tests of the repository scripts; `npm test` runs them through nx (project `scripts`). */
export default projectConfig({ include: ['test/**/*.test.ts'] });
