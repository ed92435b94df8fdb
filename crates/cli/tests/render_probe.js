// Measures the report's charts once the page has loaded (the Chromium
// render check in report.rs) and writes the figures into the body's
// data-rendered attribute as "laid-out/charts/covered/log-axes/unlabelled":
//   laid-out    charts whose box is at least 200 x 100 px;
//   covered     points of data lines (2 px polylines: their vertices and 20
//               steps along each segment) inside a legend box (plotters'
//               white 85 % rectangles);
//   log-axes    axes whose numeric tick labels sit at positions linear in
//               the logarithm of their values (a percentile "99.9%" counts
//               as 1 / (1 - 0.999)) and not in the values themselves;
//   unlabelled  ends of those log axes with no tick label at the plot's edge.
// A plot is found from its grid lines: vertical ones share the plot's top
// and bottom, horizontal ones inside that span give its left and right.
window.addEventListener('load', () => {
  const svgs = [...document.querySelectorAll('figure > svg')];
  const laidOut = svgs.filter((e) => {
    const r = e.getBoundingClientRect();
    return r.width > 200 && r.height > 100;
  }).length;
  let covered = 0;
  let logAxes = 0;
  let unlabelled = 0;
  for (const svg of svgs) {
    covered += coveredPoints(svg);
    for (const [axis, lo, hi] of axes(svg)) {
      if (!isLog(axis)) continue;
      logAxes += 1;
      const at = axis.map((l) => l.pos);
      for (const edge of [lo, hi]) {
        if (!at.some((p) => Math.abs(p - edge) <= 1.5)) unlabelled += 1;
      }
    }
  }
  document.body.setAttribute(
    'data-rendered',
    [laidOut, svgs.length, covered, logAxes, unlabelled].join('/'),
  );
});

function num(el, name) {
  return Number(el.getAttribute(name));
}

function coveredPoints(svg) {
  const boxes = [...svg.querySelectorAll('rect[opacity="0.85"][fill="#FFFFFF"]')].map(
    (r) => [num(r, 'x'), num(r, 'y'), num(r, 'width'), num(r, 'height')],
  );
  let n = 0;
  for (const line of svg.querySelectorAll('polyline[stroke-width="2"]')) {
    const pts = line.getAttribute('points').trim().split(/\s+/).map((p) => p.split(',').map(Number));
    for (let i = 0; i < pts.length; i++) {
      const [x0, y0] = pts[i];
      const [x1, y1] = pts[Math.min(i + 1, pts.length - 1)];
      for (let k = 0; k <= (i + 1 < pts.length ? 20 : 0); k++) {
        const x = x0 + ((x1 - x0) * k) / 20;
        const y = y0 + ((y1 - y0) * k) / 20;
        if (boxes.some(([bx, by, bw, bh]) => x > bx && x < bx + bw && y > by && y < by + bh)) n++;
      }
    }
  }
  return n;
}

// Every plot's two axes as [labels, low edge, high edge] in pixels, labels
// as {value, pos}; an axis without three numeric labels is left out.
function axes(svg) {
  const grid = [...svg.querySelectorAll('line')].filter((l) => num(l, 'opacity') < 1);
  const texts = [...svg.querySelectorAll('text')].map((t) => ({
    x: num(t, 'x'),
    y: num(t, 'y'),
    anchor: t.getAttribute('text-anchor'),
    value: value(t.textContent.trim()),
  }));
  const spans = new Map();
  for (const l of grid) {
    if (num(l, 'x1') !== num(l, 'x2')) continue;
    const top = Math.min(num(l, 'y1'), num(l, 'y2'));
    const bottom = Math.max(num(l, 'y1'), num(l, 'y2'));
    spans.set(top + ',' + bottom, [top, bottom]);
  }
  const out = [];
  for (const [top, bottom] of spans.values()) {
    const rows = grid.filter(
      (l) => num(l, 'y1') === num(l, 'y2') && num(l, 'y1') >= top && num(l, 'y1') <= bottom,
    );
    if (!rows.length) continue;
    const left = Math.min(...rows.map((l) => Math.min(num(l, 'x1'), num(l, 'x2'))));
    const right = Math.max(...rows.map((l) => Math.max(num(l, 'x1'), num(l, 'x2'))));
    const ys = texts
      .filter((t) => t.anchor === 'end' && t.x < left && t.y >= top - 3 && t.y <= bottom + 3)
      .map((t) => ({ value: t.value, pos: t.y }));
    const xs = texts
      .filter((t) => t.anchor === 'middle' && t.y > bottom && t.y <= bottom + 20 && t.x >= left - 3 && t.x <= right + 3)
      .map((t) => ({ value: t.value, pos: t.x }));
    for (const [labels, lo, hi] of [[ys, top, bottom], [xs, left, right]]) {
      if (labels.length >= 3 && labels.every((l) => Number.isFinite(l.value))) out.push([labels, lo, hi]);
    }
  }
  return out;
}

// A tick label's number: "2.5" as 2.5, "99.9%" as 1 / (1 - 0.999), "1.5k"
// as 1500; NaN for anything else.
function value(text) {
  const m = /^(-?[0-9]+(?:\.[0-9]+)?)\s*(%|k|M)?$/.exec(text);
  if (!m) return NaN;
  const v = Number(m[1]);
  if (m[2] === '%') return v < 100 ? 1 / (1 - v / 100) : NaN;
  return v * ({ k: 1e3, M: 1e6 }[m[2]] || 1);
}

// Whether the values are exponential in the positions (within 6 %: a tick
// label shows two significant digits) and not linear in them (off by more
// than 1 % of the axis's range somewhere).
function isLog(labels) {
  if (!labels.every((l) => l.value > 0)) return false;
  const pos = labels.map((l) => l.pos);
  const vs = labels.map((l) => l.value);
  const logWorst = worstResidual(pos, vs.map(Math.log));
  const range = Math.max(...vs) - Math.min(...vs);
  return logWorst <= Math.log(1.06) && worstResidual(pos, vs) > 0.01 * range;
}

// The largest distance of ys from their least-squares line over xs.
function worstResidual(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b) / n;
  const my = ys.reduce((a, b) => a + b) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const b = sxx ? sxy / sxx : 0;
  return Math.max(...xs.map((x, i) => Math.abs(my + b * (x - mx) - ys[i])));
}
