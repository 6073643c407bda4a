// Inline SVG charts (no library, no CDN): line charts for loss and ROC/PR curves, and a two-series
// histogram of test scores.

const NS = "http://www.w3.org/2000/svg";
const W = 360;
const H = 220;
const M = { l: 44, r: 12, t: 12, b: 34 };
const LEGEND_BAND = 26; // top margin of charts with a legend: the legend's own row
export const CHART = { W, H, M, LEGEND_BAND };

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function ticks(min, max, n = 4) {
  if (max === min) return [min];
  const step = (max - min) / n;
  return Array.from({ length: n + 1 }, (_, i) => min + i * step);
}

/** Whole-number ticks at an even step of 1, 2 or 5 x 10^k (epochs 1..8: 1, 3, 5, 7), never a skipped-looking 1, 3, 4, 6. */
function integerTicks(min, max, n = 4) {
  const lo = Math.ceil(min);
  const hi = Math.floor(max);
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / n;
  const scale = 10 ** Math.floor(Math.log10(raw || 1));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * scale).find((s) => s >= raw) || 10 * scale);
  const out = [];
  for (let t = lo; t <= hi; t += step) out.push(t);
  return out;
}

function label(v) {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function frame(title, xDomain, yDomain, xLabel, yLabel, integerX = false, integerY = false, top = M.t) {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart-svg" });
  svg.append(el("title", {}, title));
  const [x0, x1] = xDomain;
  const [y0, y1] = yDomain;
  const sx = (x) => M.l + ((x - x0) / (x1 - x0 || 1)) * (W - M.l - M.r);
  const sy = (y) => H - M.b - ((y - y0) / (y1 - y0 || 1)) * (H - top - M.b);
  const g = el("g", { class: "axes" });
  const yTicks = integerY ? integerTicks(y0, y1) : ticks(y0, y1);
  for (const t of yTicks) {
    g.append(el("line", { x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t), class: "grid" }));
    g.append(el("text", { x: M.l - 6, y: sy(t) + 4, "text-anchor": "end" }, integerY ? String(t) : label(t)));
  }
  const xTicks = integerX ? integerTicks(x0, x1) : ticks(x0, x1);
  for (const t of xTicks) {
    g.append(el("text", { x: sx(t), y: H - M.b + 16, "text-anchor": "middle" }, integerX ? String(t) : label(t)));
  }
  g.append(el("line", { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: "axis" }));
  g.append(el("line", { x1: M.l, x2: M.l, y1: top, y2: H - M.b, class: "axis" }));
  g.append(el("text", { x: (M.l + W - M.r) / 2, y: H - 4, "text-anchor": "middle", class: "axis-label" }, xLabel));
  g.append(
    el("text", { x: 12, y: (top + H - M.b) / 2, transform: `rotate(-90 12 ${(top + H - M.b) / 2})`, "text-anchor": "middle", class: "axis-label" }, yLabel),
  );
  svg.append(g);
  return { svg, sx, sy };
}

function empty(container, text) {
  container.replaceChildren(Object.assign(document.createElement("p"), { className: "muted small", textContent: text }));
}

/** series: [{points: [[x, y], ...], cls}] */
export function lineChart(container, series, { title, xLabel, yLabel, xDomain, yDomain, diagonal = false, integerX = false }) {
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) return empty(container, "No data yet.");
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const xd = xDomain || [Math.min(...xs), Math.max(...xs)];
  let yd = yDomain;
  if (!yd) {
    const lo = Math.min(...ys);
    const hi = Math.max(...ys);
    const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
    yd = [Math.max(0, lo - pad), hi + pad];
  }
  const { svg, sx, sy } = frame(title, xd, yd, xLabel, yLabel, integerX);
  if (diagonal) svg.append(el("line", { x1: sx(xd[0]), y1: sy(yd[0]), x2: sx(xd[1]), y2: sy(yd[1]), class: "diag" }));
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    svg.append(el("path", { d, class: `line ${s.cls || ""}` }));
    if (s.points.length === 1) svg.append(el("circle", { cx: sx(s.points[0][0]), cy: sy(s.points[0][1]), r: 3, class: `dot ${s.cls || ""}` }));
  }
  container.replaceChildren(svg);
}

/** bins: edges (n+1) or centres (n); good/defective: n counts each. */
export function histogram(container, bins, good, defective, threshold) {
  const n = Math.max(good?.length || 0, defective?.length || 0);
  if (!n || !bins || !bins.length) return empty(container, "No test scores for this model.");
  let edges = bins;
  if (bins.length !== n + 1) {
    // Bin centres: turn them into edges.
    const w = n > 1 ? bins[1] - bins[0] : 1 / Math.max(1, n);
    edges = [...bins.slice(0, n).map((c) => c - w / 2), bins[n - 1] + w / 2];
  }
  const max = Math.max(1, ...(good || []), ...(defective || []));
  // The legend sits in its own band above the plot area (LEGEND_BAND), so it never covers a bar.
  const { svg, sx, sy } = frame("Test scores", [edges[0], edges[n]], [0, max], "score", "images", false, true, LEGEND_BAND);
  for (let i = 0; i < n; i++) {
    const x = sx(edges[i]);
    const w = Math.max(1, (sx(edges[i + 1]) - x) / 2 - 0.5);
    const g = (good && good[i]) || 0;
    const d = (defective && defective[i]) || 0;
    if (g) svg.append(el("rect", { x, y: sy(g), width: w, height: sy(0) - sy(g), class: "bar good" }, undefined));
    if (d) svg.append(el("rect", { x: x + w + 0.5, y: sy(d), width: w, height: sy(0) - sy(d), class: "bar defective" }));
  }
  if (typeof threshold === "number" && threshold >= edges[0] && threshold <= edges[n]) {
    svg.append(el("line", { x1: sx(threshold), x2: sx(threshold), y1: LEGEND_BAND, y2: H - M.b, class: "thr" }));
  }
  const legend = el("g", { class: "legend" });
  legend.append(el("rect", { x: W - 150, y: 4, width: 10, height: 10, class: "bar good" }));
  legend.append(el("text", { x: W - 136, y: 13 }, "good"));
  legend.append(el("rect", { x: W - 96, y: 4, width: 10, height: 10, class: "bar defective" }));
  legend.append(el("text", { x: W - 82, y: 13 }, "defective"));
  if (typeof threshold === "number") {
    legend.append(el("line", { x1: M.l, x2: M.l + 14, y1: 9, y2: 9, class: "thr" }));
    legend.append(el("text", { x: M.l + 18, y: 13 }, "threshold"));
  }
  svg.append(legend);
  container.replaceChildren(svg);
}

/**
 * Scores of two versions on the same images: one dot per image (x = version A, y = version B), dashed lines
 * at both thresholds, so changed verdicts are the dots in the off-diagonal quadrants.
 * points: [{x, y, cls, title}]
 */
export function scatter(container, points, { title, xLabel, yLabel, xThreshold, yThreshold }) {
  if (!points.length) return empty(container, "No test image has a score from both versions.");
  const { svg, sx, sy } = frame(title, [0, 1], [0, 1], xLabel, yLabel);
  svg.append(el("line", { x1: sx(0), y1: sy(0), x2: sx(1), y2: sy(1), class: "diag" }));
  if (typeof xThreshold === "number") svg.append(el("line", { x1: sx(xThreshold), x2: sx(xThreshold), y1: sy(0), y2: sy(1), class: "thr" }));
  if (typeof yThreshold === "number") svg.append(el("line", { x1: sx(0), x2: sx(1), y1: sy(yThreshold), y2: sy(yThreshold), class: "thr" }));
  const clamp = (v) => Math.min(1, Math.max(0, v));
  for (const p of points) {
    const c = el("circle", { cx: sx(clamp(p.x)).toFixed(1), cy: sy(clamp(p.y)).toFixed(1), r: 3.2, class: `pt ${p.cls || ""}` });
    if (p.title) c.append(el("title", {}, p.title));
    svg.append(c);
  }
  container.replaceChildren(svg);
}
