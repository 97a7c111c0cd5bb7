// A gradient worker that dies when it gets a shard: the pool must reject the step, not hang.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (message) => {
  if (message.type === 'shard') process.exit(7);
});
