// The classify panel: a bar per class with its probability.
import { $, fillModelSelect, postJson, showError } from './api.js';
import { bar } from './chart.js';
import { imageSource, modelSize, resized } from './image-source.js';

let models = [];
let source;

const selected = () => models.find((m) => m.id === $('classify-model').value);

function showBars({ probabilities, top }) {
  const rows = probabilities.map(({ label, index, probability }) => {
    const li = document.createElement('li');
    li.dataset.probability = String(probability);
    if (index === top.index) li.className = 'top';
    const name = document.createElement('span');
    name.className = 'bar-label';
    name.textContent = label;
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = `${(100 * probability).toFixed(1)} %`;
    li.append(name, bar(probability, index === top.index ? 'bar-top' : 'bar-fill'), value);
    return li;
  });
  $('classify-bars').replaceChildren(...rows);
  $('classify-result').textContent = `${top.label}, ${(100 * top.probability).toFixed(1)} %`;
}

async function run(event) {
  event.preventDefault();
  $('classify-error').textContent = '';
  const bitmap = await source.loaded();
  if (!bitmap) {
    $('classify-error').textContent = 'Pick a test image or upload one first.';
    return;
  }
  const [h, w] = modelSize(selected());
  const image = resized(bitmap, w, h).toDataURL('image/png');
  $('classify-image').src = image;
  $('classify-run').disabled = true;
  try {
    showBars(await postJson('/v1/classify', { image, model: $('classify-model').value }));
  } catch (error) {
    showError($('classify-error'), error);
  } finally {
    $('classify-run').disabled = false;
  }
}

export async function initClassify(all) {
  models = fillModelSelect($('classify-model'), all, 'classify', ['classifier']);
  $('classify-form').addEventListener('submit', run);
  const usable = () => {
    $('classify-run').disabled = selected()?.status !== 'ready';
  };
  $('classify-model').addEventListener('change', usable);
  usable();
  source = await imageSource({
    select: $('classify-sample'),
    file: $('classify-file'),
    onChange: () => {},
    onError: (error) => showError($('classify-error'), error),
  });
}
