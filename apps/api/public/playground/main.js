// The playground: one panel per capability of the served models.
import { $, listModels } from './api.js';
import { initCards } from './cards.js';
import { initClassify } from './classify.js';
import { initGenerate } from './generate.js';
import { initInpaint } from './inpaint.js';
import { initScore } from './score.js';

async function start() {
  const models = await listModels();
  initGenerate(models);
  initCards($('model-cards'), models);
  await Promise.all([initInpaint(models), initScore(models), initClassify(models)]);
  document.body.dataset.ready = 'true';
}

start().catch((error) => {
  $('error').textContent = `Cannot list models: ${error}`;
});
