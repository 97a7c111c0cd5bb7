import { mergeConfig } from 'vitest/config';
import { projectConfig } from '../../vitest.shared.js';

// One test file at a time: the load test times /health, and other files' tensor work on the
// same two cores would measure the machine rather than the server.
export default mergeConfig(projectConfig(), { test: { fileParallelism: false } });
