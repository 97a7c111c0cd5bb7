// Small SVG drawings: a histogram with a marker, and one horizontal bar. Sizes are SVG
// attributes and colours come from playground.css classes, so no inline style is needed.

const SVG = 'http://www.w3.org/2000/svg';

export function svg(name, attributes = {}, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

/**
 * Draws `counts` over `edges` into `target` (an <svg> with viewBox 0 0 320 150) and, when
 * `marker` is a number, a marker line at that value (clamped to the drawn range).
 */
export function drawHistogram(target, { edges, counts }, marker) {
  const [W, H, left, right, top, bottom] = [320, 150, 8, 312, 22, 122];
  const lo = edges[0];
  const hi = edges[edges.length - 1];
  const span = hi - lo || 1;
  const x = (v) => left + ((v - lo) / span) * (right - left);
  const most = Math.max(1, ...counts);
  const children = [svg('rect', { class: 'chart-bg', x: 0, y: 0, width: W, height: H })];
  counts.forEach((n, i) => {
    const h = (n / most) * (bottom - top);
    const x0 = x(edges[i]);
    const w = Math.max(0.5, x(edges[i + 1]) - x0 - 0.5);
    children.push(svg('rect', { class: 'hist-bar', x: x0, y: bottom - h, width: w, height: h }));
  });
  children.push(svg('line', { class: 'axis', x1: left, x2: right, y1: bottom, y2: bottom }));
  children.push(svg('text', { class: 'tick', x: left, y: bottom + 14 }, fmt(lo)));
  children.push(svg('text', { class: 'tick', x: right, y: bottom + 14, 'text-anchor': 'end' }, fmt(hi)));
  children.push(svg('text', { class: 'tick', x: (left + right) / 2, y: H - 4, 'text-anchor': 'middle' }, 'energy'));
  if (typeof marker === 'number' && Number.isFinite(marker)) {
    const mx = Math.max(left, Math.min(right, x(marker)));
    const g = svg('g', { id: 'score-marker', 'data-x': mx.toFixed(2), 'data-energy': marker });
    g.append(
      svg('line', { class: 'marker', x1: mx, x2: mx, y1: top - 4, y2: bottom }),
      svg('path', { class: 'marker-head', d: `M${mx - 5},${top - 12} L${mx + 5},${top - 12} L${mx},${top - 4} Z` }),
      svg(
        'text',
        { class: 'marker-label', x: Math.max(left + 30, Math.min(right - 30, mx)), y: top - 14, 'text-anchor': 'middle' },
        'this image',
      ),
    );
    children.push(g);
  }
  target.replaceChildren(...children);
}

/** One bar of `fraction` (0–1) of the width, in an <svg> that stretches to its box. */
export function bar(fraction, className) {
  const element = svg('svg', { class: 'bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  element.append(svg('rect', { class: 'bar-bg', x: 0, y: 0, width: 100, height: 10 }));
  element.append(svg('rect', { class: className, x: 0, y: 0, width: (100 * fraction).toFixed(3), height: 10 }));
  return element;
}
