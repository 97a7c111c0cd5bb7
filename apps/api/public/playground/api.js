// Talking to the genlab API: JSON posts, server-sent-event jobs, problem+json errors.

export const $ = (id) => document.getElementById(id);

/** Models as `GET /v1/models` lists them. */
export async function listModels() {
  const res = await fetch('/v1/models');
  if (!res.ok) throw new Error(`GET /v1/models answered ${res.status}`);
  return (await res.json()).models;
}

function headers(extra = {}) {
  const h = { 'content-type': 'application/json', ...extra };
  const token = $('token').value;
  if (token) h.authorization = `Bearer ${token}`;
  return h;
}

/** A thrown API problem (RFC 9457), shown as "title: detail". */
export class Problem extends Error {
  constructor(problem) {
    super((problem.title || 'Error') + (problem.detail ? `: ${problem.detail}` : ''));
    this.problem = problem;
  }
}

async function failure(res) {
  const body = await res.text();
  try {
    return new Problem(JSON.parse(body));
  } catch {
    return new Problem({ title: `HTTP ${res.status}`, detail: body.slice(0, 200) });
  }
}

export async function getJson(path) {
  const res = await fetch(path);
  if (!res.ok) throw await failure(res);
  return res.json();
}

export async function postJson(path, body, signal) {
  const res = await fetch(path, { method: 'POST', headers: headers(), body: JSON.stringify(body), signal });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/**
 * Posts a streamed job (`?stream=1`): calls onProgress({step, total, preview?}) for each progress
 * event and resolves with the `result` event's data.
 */
export async function streamJob(path, body, { onProgress, signal }) {
  const res = await fetch(`${path}?stream=1`, {
    method: 'POST',
    headers: headers({ accept: 'text/event-stream' }),
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
      if (type === 'progress') onProgress?.(data);
      else if (type === 'result') return data;
      else if (type === 'error') throw new Problem(data);
    }
  }
  throw new Error('The stream ended without a result');
}

/** Shows an error in a panel's alert line (an aborted request is not an error). */
export function showError(element, error) {
  if (error?.name === 'AbortError') return;
  element.textContent = error instanceof Error ? error.message : String(error);
}

/**
 * Fills a model <select> with the ready models that have `capability`, and the unavailable ones
 * of `kinds` (with their status); selects the first ready one. Returns the models listed.
 */
export function fillModelSelect(select, models, capability, kinds) {
  const shown = models.filter((m) => (m.status === 'ready' ? m.capabilities.includes(capability) : kinds.includes(m.kind)));
  select.replaceChildren(...shown.map((m) => new Option(m.id + (m.status === 'ready' ? '' : ` (${m.status})`), m.id)));
  const firstReady = shown.find((m) => m.status === 'ready');
  if (firstReady) select.value = firstReady.id;
  return shown;
}

export const pngDataUrl = (base64) => `data:image/png;base64,${base64}`;

/** Shows a download link for `url` in `slot` (an empty <span>), replacing an earlier one. */
export function downloadLink(slot, id, url, filename) {
  const a = document.createElement('a');
  a.id = id;
  a.href = url;
  a.download = filename;
  a.textContent = 'download';
  slot.replaceChildren(a);
}
