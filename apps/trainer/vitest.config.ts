import { projectConfig } from '../../vitest.shared.js';

// End-to-end runs train real (micro) networks: allow for slow, shared CI machines.
export default projectConfig({ testTimeout: 300_000 });
