/**
 * The playground page at `GET /`: plain HTML and one script (served from /playground.js so
 * the default Content-Security-Policy, which forbids inline scripts, still holds).
 */
export const PLAYGROUND_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>genlab playground</title>
<link rel="stylesheet" href="/playground.css">
</head>
<body>
<main>
  <h1>genlab playground</h1>
  <p>Generate CIFAR-10-like images with the diffusion model (DDPM/DDIM) or the energy-based model (Langevin). <a href="/docs">API docs</a></p>
  <form id="form">
    <label>Model <select id="model" name="model"></select></label>
    <span id="status" class="status"></span>
    <label>Sampler <select id="sampler" name="sampler"></select></label>
    <label>Steps <input id="steps" name="steps" type="number" min="1" max="1000" value="20"></label>
    <label>Images <input id="count" name="count" type="number" min="1" max="64" value="16"></label>
    <label>Seed <input id="seed" name="seed" type="number" min="0" max="4294967295" placeholder="random"></label>
    <label id="class-row">Class <select id="classLabel" name="classLabel"><option value="">any</option></select></label>
    <label id="guidance-row">Guidance <input id="guidance" name="guidance" type="number" min="0" max="20" step="0.5" value="4"></label>
    <label>Token <input id="token" name="token" type="password" placeholder="only if the server needs one"></label>
    <button id="generate" type="submit">Generate</button>
    <button id="cancel" type="button" disabled>Cancel</button>
  </form>
  <progress id="progress" value="0" max="1"></progress> <span id="step"></span>
  <div class="images">
    <figure><figcaption>Live preview</figcaption><img id="preview" alt="preview of the current estimate"></figure>
    <figure><figcaption>Result <a id="download" download="genlab-grid.png" hidden>download</a> <span id="seed-used"></span></figcaption><img id="grid" alt="generated grid"></figure>
  </div>
  <p id="error" role="alert"></p>
</main>
<script src="/playground.js" type="module"></script>
</body>
</html>
`;

export const PLAYGROUND_CSS = `body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}
form{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.6rem;align-items:end;margin-bottom:1rem}
label{display:flex;flex-direction:column;font-size:.85rem;gap:.2rem}
input,select,button{font-size:1rem;padding:.3rem}
progress{width:20rem}
.images{display:flex;gap:2rem;flex-wrap:wrap}
img{image-rendering:pixelated;min-width:12rem;border:1px solid #ccc}
#error{color:#b00020}
.status{font-size:.85rem;color:#555}
`;

export const PLAYGROUND_JS = `const $ = (id) => document.getElementById(id);
let models = [];
let controller;

function selected() { return models.find((m) => m.id === $('model').value); }

function fillModelOptions() {
  const m = selected();
  $('sampler').replaceChildren(...(m?.info?.samplers ?? []).map((s) => new Option(s, s, s === m.info.defaultSampler, s === m.info.defaultSampler)));
  $('status').textContent = m ? (m.status === 'ready' ? m.kind + ' · ' + m.capabilities.join(', ') : m.status + (m.reason ? ': ' + m.reason : '')) : '';
  if (m?.info) { $('steps').value = String(m.info.defaultSteps); $('steps').max = String(m.info.maxSteps); }
  const conditional = m?.capabilities.includes('class-conditional');
  $('class-row').hidden = !conditional;
  $('guidance-row').hidden = !conditional;
  const names = m?.info?.classNames ?? Array.from({ length: m?.info?.numClasses ?? 0 }, (_, i) => 'class ' + i);
  $('classLabel').replaceChildren(new Option('any', ''), ...names.map((n, i) => new Option(n, String(i))));
  $('generate').disabled = !m || m.status !== 'ready';
}

async function loadModels() {
  const res = await fetch('/v1/models');
  models = (await res.json()).models.filter((m) => m.capabilities.includes('unconditional') || m.status !== 'ready');
  $('model').replaceChildren(...models.map((m) => new Option(m.id + (m.status === 'ready' ? '' : ' (' + m.status + ')'), m.id)));
  const firstReady = models.find((m) => m.status === 'ready');
  if (firstReady) $('model').value = firstReady.id;
  fillModelOptions();
}

function body() {
  const b = { count: Number($('count').value), steps: Number($('steps').value), sampler: $('sampler').value, format: 'json' };
  if ($('seed').value !== '') b.seed = Number($('seed').value);
  if (!$('class-row').hidden && $('classLabel').value !== '') {
    b.classLabel = Number($('classLabel').value);
    b.guidance = Number($('guidance').value);
  }
  return b;
}

function showProblem(p) { $('error').textContent = (p.title || 'Error') + (p.detail ? ': ' + p.detail : ''); }

async function generate(event) {
  event.preventDefault();
  $('error').textContent = '';
  $('generate').disabled = true;
  $('cancel').disabled = false;
  $('progress').value = 0;
  controller = new AbortController();
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if ($('token').value) headers.authorization = 'Bearer ' + $('token').value;
  try {
    const res = await fetch('/v1/models/' + encodeURIComponent($('model').value) + '/samples?stream=1', { method: 'POST', headers, body: JSON.stringify(body()), signal: controller.signal });
    if (!res.ok) { showProblem(await res.json()); return; }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
        handle(type, data);
      }
    }
  } catch (error) {
    if (error.name !== 'AbortError') $('error').textContent = String(error);
  } finally {
    $('generate').disabled = false;
    $('cancel').disabled = true;
  }
}

function handle(type, data) {
  if (type === 'progress') {
    $('progress').max = data.total;
    $('progress').value = data.step;
    $('step').textContent = 'step ' + data.step + ' / ' + data.total;
    if (data.preview) $('preview').src = data.preview;
  } else if (type === 'result') {
    const url = 'data:image/png;base64,' + data.grid;
    $('grid').src = url;
    $('download').href = url;
    $('download').hidden = false;
    $('seed-used').textContent = 'seed ' + data.seed;
    $('grid').dataset.seed = String(data.seed);
  } else if (type === 'error') {
    showProblem(data);
  }
}

$('model').addEventListener('change', fillModelOptions);
$('form').addEventListener('submit', generate);
$('cancel').addEventListener('click', () => controller?.abort());
loadModels().catch((e) => { $('error').textContent = 'Cannot list models: ' + e; });
`;

/** Swagger UI page for `/docs`, loading the bundled swagger-ui-dist assets. */
export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>genlab API docs</title><link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
`;

export const DOCS_INIT_JS = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;
