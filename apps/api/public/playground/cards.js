// The models panel: a card per model with its training summary, metrics and a sample grid.
import { pngDataUrl, postJson, showError } from './api.js';
import { bundledImages, resized } from './image-source.js';

function el(name, attributes = {}, ...children) {
  const element = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  element.append(...children);
  return element;
}

const list = (values) => (Array.isArray(values) ? values.join('-') : '');

/** One line on the architecture, from the manifest's config. */
function architecture(kind, config = {}) {
  if (kind === 'diffusion' && config.unet) {
    const u = config.unet;
    const attention = u.attentionResolutions?.length ? `, attention at ${list(u.attentionResolutions)} px` : '';
    const schedule = config.schedule ? `; ${config.schedule.kind} schedule, ${config.schedule.timesteps} steps` : '';
    return `UNet, ${u.baseChannels} channels × ${list(u.channelMults)}${attention}${u.numClasses ? `, ${u.numClasses} classes` : ''}${schedule}`;
  }
  if (kind === 'energy' && config.net) {
    const n = config.net;
    const objective = config.objective === 'dsm' ? 'denoising score matching' : 'contrastive divergence';
    return `${n.architecture ?? 'conv'} energy net, channels ${list(n.channels)}; trained by ${objective}`;
  }
  if (kind === 'classifier' && config.net) return `CNN, channels ${list(config.net.channels)}, ${config.net.numClasses ?? 10} classes`;
  return '';
}

function formatMetric(name, value) {
  if (typeof value !== 'number') return String(value);
  if (/accuracy/i.test(name) && value <= 1) return `${(100 * value).toFixed(1)} %`;
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(4);
}

function summary(model) {
  const m = model.manifest ?? {};
  const info = model.info ?? {};
  const rows = [
    ['Kind', model.kind],
    ['Status', model.status + (model.reason ? `: ${model.reason}` : '')],
    ['Architecture', architecture(model.kind, m.config)],
    ['Training steps', m.step],
    ['Dataset', m.dataset],
    ['Trained on', m.backend],
    ['Exported', m.created ? new Date(m.created).toISOString().slice(0, 16).replace('T', ' ') : undefined],
    ['Image size', info.imageShape ? info.imageShape.join(' × ') : undefined],
    ['Sampling', info.defaultSampler ? `${info.defaultSampler}, ${info.defaultSteps} steps by default` : undefined],
    ['Can', model.capabilities.join(', ')],
  ].filter(([, v]) => v !== undefined && v !== '');
  return el('dl', { class: 'summary' }, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, String(v))]));
}

function metrics(model) {
  const entries = Object.entries(model.manifest?.metrics ?? {});
  if (entries.length === 0) return el('p', { class: 'status' }, 'No metrics in the manifest.');
  const rows = entries.map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, formatMetric(k, v))));
  return el('table', { class: 'metrics' }, el('caption', {}, 'Metrics'), el('tbody', {}, ...rows));
}

async function drawSamples(model, figure, error) {
  const data = await postJson(`/v1/models/${encodeURIComponent(model.id)}/samples`, { count: 9, seed: 0, format: 'json' });
  const img = el('img', { class: 'pixels sample-grid', alt: `9 samples of ${model.id} (seed 0)` });
  img.src = pngDataUrl(data.grid);
  figure.replaceChildren(img, el('figcaption', {}, `9 samples, seed 0, ${model.info.defaultSampler} ${model.info.defaultSteps} steps`));
  error.textContent = '';
}

async function classifyTestImages(model, figure, error) {
  const [h, w] = model.info?.imageShape ?? [32, 32];
  const cells = [];
  let right = 0;
  const images = await bundledImages();
  for (const item of images) {
    const bitmap = await createImageBitmap(await (await fetch(`/cifar10/${item.file}`)).blob());
    const image = resized(bitmap, w, h).toDataURL('image/png');
    const { top } = await postJson('/v1/classify', { image, model: model.id });
    if (top.label === item.label) right++;
    const img = el('img', { class: 'pixels', alt: `test image of a ${item.label}` });
    img.src = image;
    const mark = top.label === item.label ? '✓' : `✗ ${top.label}`;
    cells.push(el('figure', { class: 'cell' }, img, el('figcaption', {}, `${item.label}: ${mark}`)));
  }
  figure.replaceChildren(
    el('div', { class: 'cell-grid' }, ...cells),
    el('figcaption', {}, `${right} of ${images.length} bundled test images classified correctly`),
  );
  error.textContent = '';
}

function card(model) {
  const titleId = `card-${model.id}-title`;
  const figure = el('figure', { class: 'card-samples' });
  const error = el('p', { class: 'error', role: 'alert' });
  const article = el(
    'article',
    { class: `card ${model.status}`, 'aria-labelledby': titleId, 'data-model': model.id },
    el('h3', { id: titleId }, model.id),
    summary(model),
    metrics(model),
  );
  const generative = model.status === 'ready' && model.capabilities.includes('unconditional');
  const classifier = model.status === 'ready' && model.kind === 'classifier';
  if (generative || classifier) {
    const label = generative ? `Draw a sample grid of ${model.id}` : `Classify the bundled test images with ${model.id}`;
    const button = el('button', { type: 'button', class: 'card-action' }, generative ? 'Draw a sample grid' : 'Classify the test images');
    button.setAttribute('aria-label', label);
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await (generative ? drawSamples : classifyTestImages)(model, figure, error);
      } catch (e) {
        showError(error, e);
      } finally {
        button.disabled = false;
      }
    });
    article.append(button, figure, error);
  }
  return article;
}

export function initCards(container, models) {
  container.replaceChildren(...models.map(card));
}
