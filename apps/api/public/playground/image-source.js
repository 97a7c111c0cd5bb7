// An image input: a bundled CIFAR-10 test image or an uploaded file, resized to the model's size.

let bundled;

/** The bundled test images, `[{file, label, testIndex}]` (fetched once). */
export function bundledImages() {
  bundled ??= fetch('/cifar10/index.json').then((r) => (r.ok ? r.json() : []));
  return bundled;
}

async function decode(blob) {
  return createImageBitmap(blob);
}

/**
 * Wires a <select> of bundled images and a file <input>; `onChange(bitmap)` runs with the decoded
 * image whenever the user picks one. Returns `current()`, the last one decoded, and `loaded()`,
 * the last one picked once it is decoded: a run started right after a pick must wait for it.
 */
export async function imageSource({ select, file, onChange, onError }) {
  let current;
  let pending = Promise.resolve();
  let picks = 0;
  const use = (load) => {
    const pick = ++picks;
    pending = (async () => {
      try {
        const bitmap = await decode(await load());
        // A slower, earlier pick must not replace a later one.
        if (pick !== picks) return;
        current = bitmap;
        onChange(current);
      } catch (error) {
        onError(error);
      }
    })();
  };
  const images = await bundledImages();
  select.append(...images.map((img) => new Option(`${img.label} (test #${img.testIndex})`, img.file)));
  select.addEventListener('change', () => {
    if (!select.value) return;
    file.value = '';
    use(async () => {
      const res = await fetch(`/cifar10/${encodeURIComponent(select.value)}`);
      if (!res.ok) throw new Error(`Cannot load ${select.value}: HTTP ${res.status}`);
      return res.blob();
    });
  });
  file.addEventListener('change', () => {
    const picked = file.files?.[0];
    if (!picked) return;
    select.value = '';
    use(async () => picked);
  });
  return { current: () => current, loaded: () => pending.then(() => current) };
}

/** The image drawn at width × height (smoothly resized), as a canvas. */
export function resized(bitmap, width, height) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, width, height);
  return canvas;
}

/** [height, width] of a model's images (32 × 32 when it does not say). */
export function modelSize(model) {
  const shape = model?.info?.imageShape ?? [32, 32, 3];
  return [shape[0], shape[1]];
}
