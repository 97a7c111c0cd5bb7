// The score panel: an image's energy and where it falls among the training images' energies.
import { $, fillModelSelect, getJson, postJson, showError } from './api.js';
import { drawHistogram } from './chart.js';
import { imageSource, modelSize, resized } from './image-source.js';

let models = [];
let source;
const histograms = new Map();

const selected = () => models.find((m) => m.id === $('score-model').value);

/** The model's training-energy histogram, or undefined when it stores none. */
async function histogram(id) {
  if (!histograms.has(id))
    histograms.set(
      id,
      getJson(`/v1/models/${encodeURIComponent(id)}/training-energies`).catch(() => undefined),
    );
  return histograms.get(id);
}

async function drawFor(id, energy) {
  const h = await histogram(id);
  if (!h) {
    $('score-plot').replaceChildren();
    $('score-summary').textContent = 'This model stores no training energies to compare with.';
    return;
  }
  drawHistogram($('score-plot'), h, energy);
  let where = '';
  if (typeof energy === 'number') {
    const outside = energy < h.min ? ' (below every training image)' : energy > h.max ? ' (above every training image)' : '';
    where = `; this image: ${energy.toFixed(3)}${outside}`;
  }
  $('score-summary').textContent = `${h.count} training images, energies ${h.min.toFixed(3)} to ${h.max.toFixed(3)}${where}.`;
}

async function run(event) {
  event.preventDefault();
  $('score-error').textContent = '';
  const bitmap = await source.loaded();
  if (!bitmap) {
    $('score-error').textContent = 'Pick a test image or upload one first.';
    return;
  }
  const id = $('score-model').value;
  const [h, w] = modelSize(selected());
  const image = resized(bitmap, w, h).toDataURL('image/png');
  $('score-image').src = image;
  $('score-run').disabled = true;
  try {
    const result = await postJson(`/v1/models/${encodeURIComponent(id)}/score`, { image });
    const pct = typeof result.percentile === 'number' ? ` — higher than ${result.percentile.toFixed(1)} % of the training images` : '';
    $('score-result').textContent = `Energy ${result.energy.toFixed(3)}${pct}`;
    $('score-result').dataset.energy = String(result.energy);
    await drawFor(id, result.energy);
  } catch (error) {
    showError($('score-error'), error);
  } finally {
    $('score-run').disabled = false;
  }
}

export async function initScore(all) {
  models = fillModelSelect($('score-model'), all, 'score', ['energy']);
  $('score-form').addEventListener('submit', run);
  $('score-model').addEventListener('change', () => {
    $('score-result').textContent = '';
    $('score-run').disabled = selected()?.status !== 'ready';
    if (selected()?.status === 'ready') drawFor(selected().id);
  });
  source = await imageSource({
    select: $('score-sample'),
    file: $('score-file'),
    onChange: () => {},
    onError: (error) => showError($('score-error'), error),
  });
  if (selected()?.status === 'ready') await drawFor(selected().id);
  else $('score-run').disabled = true;
}
