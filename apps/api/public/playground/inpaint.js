// The inpaint panel: an image, a painted mask, a streamed diffusion job with previews.
import { $, downloadLink, fillModelSelect, pngDataUrl, showError, streamJob } from './api.js';
import { imageSource, modelSize, resized } from './image-source.js';
import { maskEditor } from './mask.js';

let models = [];
let controller;
let source;
let editor;

const selected = () => models.find((m) => m.id === $('inpaint-model').value);

function showImage(bitmap) {
  if (!bitmap) return;
  const [h, w] = modelSize(selected());
  editor.setImage(resized(bitmap, w, h));
  $('inpaint-run').disabled = selected()?.status !== 'ready';
}

function onModel() {
  const m = selected();
  if (m?.info) {
    $('inpaint-steps').value = String(m.info.defaultSteps);
    $('inpaint-steps').max = String(m.info.maxSteps);
  }
  showImage(source?.current());
}

function onProgress(data) {
  $('inpaint-progress').max = data.total;
  $('inpaint-progress').value = data.step;
  $('inpaint-step').textContent = `step ${data.step} / ${data.total}`;
  if (data.preview) $('inpaint-preview').src = data.preview;
}

async function run() {
  $('inpaint-error').textContent = '';
  const bitmap = await source.loaded();
  if (!bitmap) {
    $('inpaint-error').textContent = 'Pick a test image or upload one first.';
    return;
  }
  if (editor.masked() === 0) {
    $('inpaint-error').textContent = 'The mask is empty: paint the region to regenerate.';
    return;
  }
  const [h, w] = modelSize(selected());
  const body = {
    image: resized(bitmap, w, h).toDataURL('image/png'),
    mask: editor.dataUrl(),
    steps: Number($('inpaint-steps').value),
    format: 'json',
  };
  if ($('inpaint-seed').value !== '') body.seed = Number($('inpaint-seed').value);
  $('inpaint-run').disabled = true;
  $('inpaint-cancel').disabled = false;
  $('inpaint-progress').value = 0;
  controller = new AbortController();
  try {
    const path = `/v1/models/${encodeURIComponent($('inpaint-model').value)}/inpaint`;
    const data = await streamJob(path, body, { onProgress, signal: controller.signal });
    const url = pngDataUrl(data.images[0]);
    $('inpaint-result').src = url;
    downloadLink($('inpaint-download-slot'), 'inpaint-download', url, 'genlab-inpaint.png');
  } catch (error) {
    showError($('inpaint-error'), error);
  } finally {
    $('inpaint-run').disabled = false;
    $('inpaint-cancel').disabled = true;
  }
}

export async function initInpaint(all) {
  models = fillModelSelect($('inpaint-model'), all, 'inpaint', ['diffusion']);
  editor = maskEditor($('inpaint-canvas'), { brush: $('inpaint-brush'), status: $('mask-status') });
  for (const [id, action] of [
    ['mask-centre', 'centre'],
    ['mask-left', 'left'],
    ['mask-invert', 'invert'],
    ['mask-clear', 'clear'],
  ]) {
    $(id).addEventListener('click', () => editor[action]());
  }
  $('inpaint-model').addEventListener('change', onModel);
  $('inpaint-run').addEventListener('click', run);
  $('inpaint-cancel').addEventListener('click', () => controller?.abort());
  $('inpaint-form').addEventListener('submit', (event) => event.preventDefault());
  source = await imageSource({
    select: $('inpaint-sample'),
    file: $('inpaint-file'),
    onChange: showImage,
    onError: (error) => showError($('inpaint-error'), error),
  });
  onModel();
}
