// The generate panel: sample a grid with live previews.
import { $, downloadLink, fillModelSelect, pngDataUrl, showError, streamJob } from './api.js';

let models = [];
let controller;

const selected = () => models.find((m) => m.id === $('model').value);

function fillModelOptions() {
  const m = selected();
  const samplers = m?.info?.samplers ?? [];
  $('sampler').replaceChildren(...samplers.map((s) => new Option(s, s, s === m.info.defaultSampler, s === m.info.defaultSampler)));
  $('status').textContent = m
    ? m.status === 'ready'
      ? `${m.kind} · ${m.capabilities.join(', ')}`
      : m.status + (m.reason ? `: ${m.reason}` : '')
    : '';
  if (m?.info) {
    $('steps').value = String(m.info.defaultSteps);
    $('steps').max = String(m.info.maxSteps);
  }
  const conditional = m?.capabilities.includes('class-conditional');
  $('class-row').hidden = !conditional;
  $('guidance-row').hidden = !conditional;
  $('rescale-row').hidden = !conditional;
  if (conditional && m.info?.defaultGuidance !== undefined) $('guidance').value = String(m.info.defaultGuidance);
  if (conditional) $('guidanceRescale').value = String(m.info?.defaultGuidanceRescale ?? 0);
  const names = m?.info?.classNames ?? Array.from({ length: m?.info?.numClasses ?? 0 }, (_, i) => `class ${i}`);
  $('classLabel').replaceChildren(new Option('any', ''), ...names.map((n, i) => new Option(n, String(i))));
  $('generate').disabled = m?.status !== 'ready';
}

function body() {
  const b = { count: Number($('count').value), steps: Number($('steps').value), sampler: $('sampler').value, format: 'json' };
  if ($('seed').value !== '') b.seed = Number($('seed').value);
  if (!$('class-row').hidden && $('classLabel').value !== '') {
    b.classLabel = Number($('classLabel').value);
    b.guidance = Number($('guidance').value);
    // The rescale tempers guidance: at guidance 1 (none) there is nothing to rescale.
    const rescale = Number($('guidanceRescale').value);
    if (rescale > 0 && b.guidance !== 1) b.guidanceRescale = rescale;
  }
  return b;
}

function onProgress(data) {
  $('progress').max = data.total;
  $('progress').value = data.step;
  $('step').textContent = `step ${data.step} / ${data.total}`;
  if (data.preview) $('preview').src = data.preview;
}

async function generate(event) {
  event.preventDefault();
  $('error').textContent = '';
  $('generate').disabled = true;
  $('cancel').disabled = false;
  $('progress').value = 0;
  controller = new AbortController();
  try {
    const path = `/v1/models/${encodeURIComponent($('model').value)}/samples`;
    const data = await streamJob(path, body(), { onProgress, signal: controller.signal });
    const url = pngDataUrl(data.grid);
    $('grid').src = url;
    downloadLink($('download-slot'), 'download', url, 'genlab-grid.png');
    $('seed-used').textContent = `seed ${data.seed}`;
    $('grid').dataset.seed = String(data.seed);
  } catch (error) {
    showError($('error'), error);
  } finally {
    $('generate').disabled = false;
    $('cancel').disabled = true;
  }
}

export function initGenerate(all) {
  models = fillModelSelect($('model'), all, 'unconditional', ['diffusion', 'energy']);
  fillModelOptions();
  $('model').addEventListener('change', fillModelOptions);
  $('form').addEventListener('submit', generate);
  $('cancel').addEventListener('click', () => controller?.abort());
}
