// The inpainting mask editor: the image at model resolution on a canvas (scaled up by CSS),
// masked pixels tinted magenta. Pointer or keyboard (arrows move the brush, Space paints,
// Delete erases) paint a square brush.

const TINT = [255, 0, 255];
const CURSOR = [0, 200, 255];

function blend(data, i, [r, g, b], a) {
  data[i] = data[i] * (1 - a) + r * a;
  data[i + 1] = data[i + 1] * (1 - a) + g * a;
  data[i + 2] = data[i + 2] * (1 - a) + b * a;
}

export function maskEditor(canvas, { brush, status }) {
  let image;
  let mask = new Uint8Array(canvas.width * canvas.height);
  let cursor = { x: 0, y: 0 };
  let focused = false;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const size = () => Number(brush.value) || 1;

  function inBrush(x, y, cx, cy) {
    const s = size();
    const x0 = cx - Math.floor((s - 1) / 2);
    const y0 = cy - Math.floor((s - 1) / 2);
    return x >= x0 && x < x0 + s && y >= y0 && y < y0 + s;
  }

  function render() {
    const { width: w, height: h } = canvas;
    if (image) ctx.drawImage(image, 0, 0);
    else ctx.clearRect(0, 0, w, h);
    const pixels = ctx.getImageData(0, 0, w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 4;
        if (mask[y * w + x]) blend(pixels.data, i, TINT, 0.6);
        if (focused && inBrush(x, y, cursor.x, cursor.y)) blend(pixels.data, i, CURSOR, 0.5);
        pixels.data[i + 3] = 255;
      }
    }
    ctx.putImageData(pixels, 0, 0);
    const masked = mask.reduce((n, v) => n + v, 0);
    canvas.dataset.masked = String(masked);
    status.textContent = `${masked} of ${w * h} pixels masked${focused ? `; brush at ${cursor.x}, ${cursor.y}` : ''}`;
  }

  function paint(cx, cy, value) {
    const { width: w, height: h } = canvas;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (inBrush(x, y, cx, cy)) mask[y * w + x] = value;
    render();
  }

  function preset(fn) {
    const { width: w, height: h } = canvas;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mask[y * w + x] = fn(x, y, w, h, mask[y * w + x]) ? 1 : 0;
    render();
  }

  const atPointer = (event) => {
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * canvas.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * canvas.height);
    cursor = { x: Math.max(0, Math.min(canvas.width - 1, x)), y: Math.max(0, Math.min(canvas.height - 1, y)) };
    return cursor;
  };
  let painting = 0;
  canvas.addEventListener('pointerdown', (event) => {
    painting = event.button === 2 || event.shiftKey ? -1 : 1;
    canvas.setPointerCapture(event.pointerId);
    const { x, y } = atPointer(event);
    paint(x, y, painting > 0 ? 1 : 0);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!painting) return;
    const { x, y } = atPointer(event);
    paint(x, y, painting > 0 ? 1 : 0);
  });
  canvas.addEventListener('pointerup', () => {
    painting = 0;
  });
  canvas.addEventListener('contextmenu', (event) => event.preventDefault());
  canvas.addEventListener('keydown', (event) => {
    const step = event.shiftKey ? 4 : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      const [dx, dy] = moves[event.key];
      cursor = {
        x: Math.max(0, Math.min(canvas.width - 1, cursor.x + dx)),
        y: Math.max(0, Math.min(canvas.height - 1, cursor.y + dy)),
      };
      render();
    } else if (event.key === ' ' || event.key === 'Enter') paint(cursor.x, cursor.y, 1);
    else if (event.key === 'Delete' || event.key === 'Backspace') paint(cursor.x, cursor.y, 0);
    else return;
    event.preventDefault();
  });
  canvas.addEventListener('focus', () => {
    focused = true;
    render();
  });
  canvas.addEventListener('blur', () => {
    focused = false;
    render();
  });

  return {
    /** Shows `source` (a canvas at model size); the mask is kept when the size stays. */
    setImage(source) {
      if (!image || source.width !== canvas.width || source.height !== canvas.height) {
        canvas.width = source.width;
        canvas.height = source.height;
        mask = new Uint8Array(source.width * source.height);
        cursor = { x: source.width >> 1, y: source.height >> 1 };
        this.centre();
      }
      image = source;
      render();
    },
    centre: () => preset((x, y, w, h) => x >= w / 4 && x < (3 * w) / 4 && y >= h / 4 && y < (3 * h) / 4),
    left: () => preset((x, _y, w) => x < w / 2),
    invert: () => preset((_x, _y, _w, _h, v) => !v),
    clear: () => preset(() => false),
    masked: () => mask.reduce((n, v) => n + v, 0),
    /** The mask as a PNG data URL: white = regenerate, black = keep. */
    dataUrl() {
      const out = document.createElement('canvas');
      out.width = canvas.width;
      out.height = canvas.height;
      const octx = out.getContext('2d');
      const pixels = octx.createImageData(out.width, out.height);
      for (let p = 0; p < mask.length; p++) {
        const v = mask[p] ? 255 : 0;
        pixels.data.set([v, v, v, 255], p * 4);
      }
      octx.putImageData(pixels, 0, 0);
      return out.toDataURL('image/png');
    },
  };
}
