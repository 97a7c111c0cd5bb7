export type { CliCommand, CliContext } from './command.js';
export { evaluateCli } from './evaluate.js';
export { exportCli } from './export.js';
export { GLOBAL_FLAGS, parseFlags } from './flags.js';
export { reportCli } from './report.js';
export { SAMPLING_NOTES, sampleCli } from './sample.js';
export { TRAIN_NOTES, trainCli } from './train.js';
