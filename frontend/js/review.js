// /projects/{id}/review/ — unlabeled images, most useful label first, one key per decision.
//
// Order: the API gives unlabeled images by descending score (`ordering=-score`, a window of 500);
// here they are interleaved from two rankings — most anomalous first, and closest to the active
// model's threshold (the model is least sure there) — skipping duplicates. Images without a score
// come last. When the window is used up the next one is fetched, so new predictions are honoured.

import { get, getBlob, ifMatch, patch } from "./api.js";
import { byTestId, config, disable, h, isTyping, showError, toast } from "./dom.js";
import { Heatmap } from "./heatmap.js";
import { predictedDefective, scorePair } from "./verdict.js";

const cfg = config();
const pid = cfg.projectId;
const WINDOW = 500;

const errorEl = byTestId("review-error");
const statusEl = byTestId("review-status");
const itemEl = byTestId("review-item");
const imgEl = byTestId("review-image");
const heatEl = byTestId("review-heatmap");
const strip = byTestId("review-queue");

let threshold = null;
let hasModel = false;
let queue = [];
let index = 0;
let decided = 0; // decisions made this session (counted when made; a failed one is taken back)
let unlabeledCount = 0; // unlabeled images in the project when the window was fetched
let decidedSinceLoad = 0;
let noScores = false;
const heatCache = new Map();

export function reviewOrder(items, thr) {
  const scored = items.filter((i) => i.prediction && typeof i.prediction.score === "number");
  const unscored = items.filter((i) => !scored.includes(i));
  const byScore = [...scored].sort((a, b) => b.prediction.score - a.prediction.score);
  const t = thr ?? 0.5;
  const byDoubt = [...scored].sort((a, b) => Math.abs(a.prediction.score - t) - Math.abs(b.prediction.score - t));
  const seen = new Set();
  const out = [];
  for (let i = 0; i < byScore.length; i++) {
    for (const it of [byScore[i], byDoubt[i]]) {
      if (!seen.has(it.id)) {
        seen.add(it.id);
        out.push(it);
      }
    }
  }
  return [...out, ...unscored];
}

async function loadThreshold() {
  try {
    const p = await get(`projects/${pid}/`);
    const m = p.active_model;
    if (m === null || m === undefined) return null;
    hasModel = true;
    const model = typeof m === "object" ? m : await get(`models/${m}/`);
    return model.threshold;
  } catch (err) {
    showError(errorEl, `Could not read the active model: ${err.detail || err.message}`);
    return null;
  }
}

let loadFailed = false;
const lastWrite = new Map(); // image id -> its latest label write (settled), so writes of one image go in order

async function loadQueue() {
  statusEl.textContent = "Loading queue…";
  // Wait for decisions still in flight, so the next window does not offer them again.
  await Promise.allSettled(Array.from(pending));
  try {
    // Without an active model there are no scores to order by: upload order (newest first) then.
    const params = { label: "unlabeled", page_size: WINDOW };
    if (hasModel) params.ordering = "-score";
    const data = await get(`projects/${pid}/images/`, params);
    queue = reviewOrder(
      data.results.filter((i) => !decidedIds.has(i.id)),
      threshold,
    );
    index = 0;
    noScores = queue.length && !queue.some((i) => i.prediction);
    unlabeledCount = data.count;
    decidedSinceLoad = 0;
    showStatus();
    // clear only an earlier load failure: a refused decision's reason stays readable after the reload
    if (loadFailed) showError(errorEl, null);
    loadFailed = false;
  } catch (err) {
    queue = [];
    statusEl.textContent = "";
    loadFailed = true;
    showError(errorEl, `Could not load the queue: ${err.detail || err.message}`);
  }
  render();
}

/** "N unlabeled images", live: each decision takes one off at once (and a failed one puts it back). */
function showStatus() {
  const left = Math.max(0, unlabeledCount - decidedSinceLoad);
  statusEl.dataset.unlabeled = String(left);
  statusEl.textContent = queue.length
    ? `${left.toLocaleString()} unlabeled image${left === 1 ? "" : "s"}${noScores ? " · no model scores yet, so in upload order" : ""}`
    : "Nothing to review: every image is labelled.";
}

async function heatFor(item) {
  if (!item.prediction || !item.prediction.heatmap_url) return null;
  if (!heatCache.has(item.id)) {
    heatCache.set(
      item.id,
      getBlob(item.prediction.heatmap_url)
        .then((b) => (b ? Heatmap.fromBlob(b) : null))
        .catch(() => null),
    );
  }
  return heatCache.get(item.id);
}

function drawHeat(item, heat) {
  const hc = heatEl.getContext("2d");
  const w = Math.min(item.width, 1024);
  const hgt = Math.round((item.height / item.width) * w);
  heatEl.width = w;
  heatEl.height = hgt;
  hc.fillStyle = "#1b1f24";
  hc.fillRect(0, 0, w, hgt);
  if (imgEl.complete && imgEl.naturalWidth) {
    hc.globalAlpha = 1;
    hc.filter = "grayscale(1)";
    hc.drawImage(imgEl, 0, 0, w, hgt);
    hc.filter = "none";
  }
  hc.globalAlpha = 0.6;
  if (heat) hc.drawImage(heat.render(0), 0, 0, w, hgt);
  hc.globalAlpha = 1;
  heatEl.dataset.ready = heat ? "true" : "none";
}

function render() {
  const item = queue[index];
  itemEl.hidden = !item;
  strip.replaceChildren(
    ...queue.slice(index + 1, index + 9).map((i) =>
      h("li", {}, h("img", { src: i.thumbnail_url, alt: i.filename, loading: "lazy", width: 96, height: 96 })),
    ),
  );
  if (!item) return;
  byTestId("review-filename").textContent = item.filename;
  const progress = byTestId("review-progress");
  progress.textContent = `${decided} decided this session · ${queue.length - index} left in this batch`;
  progress.dataset.decided = String(decided);
  const p = item.prediction;
  const [scoreShown, thresholdShown] = p ? scorePair(p.score, threshold) : [];
  const scoreEl = byTestId("review-score");
  scoreEl.textContent = p
    ? `score ${scoreShown}${threshold !== null ? ` / threshold ${thresholdShown}` : ""}${predictedDefective(p, threshold) ? " · predicted defective" : ""}`
    : "no score yet";
  scoreEl.dataset.defective = p ? String(predictedDefective(p, threshold)) : "";
  byTestId("open-labeller").href = `${cfg.urls.labellerPrefix}${item.id}/?label=unlabeled&ordering=-score`;
  itemEl.dataset.id = item.id;
  heatEl.dataset.ready = "false";
  imgEl.onload = async () => drawHeat(item, await heatFor(item));
  imgEl.src = item.view_url || item.file_url;
  // Warm the next image and map so that the next decision shows at once.
  const next = queue[index + 1];
  if (next) {
    new Image().src = next.view_url || next.file_url;
    heatFor(next);
  }
}

// Decisions are optimistic: the next image shows at once and the PATCH runs behind, so fast key
// presses are never dropped. A failed PATCH is reported with the file name and can be redone with ←.
const decidedIds = new Set();
const pending = new Set();

function showPending() {
  const el = byTestId("review-progress");
  el.dataset.pending = String(pending.size);
}

const readOnly = cfg.role === "viewer";
const READ_ONLY = "Viewers can look but not label: an owner can give you the labeller role.";

function decide(label) {
  const item = queue[index];
  if (!item) return;
  if (readOnly) return showError(errorEl, READ_ONLY); // stay on the image: nothing was decided
  // Going back and deciding an image again changes its label, not the counts.
  const again = decidedIds.has(item.id);
  decidedIds.add(item.id);
  if (!again) {
    decided += 1;
    decidedSinceLoad += 1;
  }
  showStatus();
  // Conditional on the revision the queue read, so a colleague's label on the same image is never overwritten.
  // A second decision on the same image waits for the first, whose answer carries the revision it made.
  const prior = lastWrite.get(item.id) || Promise.resolve();
  const request = prior
    .then(() => patch(`images/${item.id}/`, { label }, ifMatch(item.revision)))
    .then((updated) => {
      item.label = label;
      item.revision = updated.revision;
    })
    .catch((err) => {
      if (again) return showError(errorEl, `${item.filename} not labelled ${label}: ${err.detail || err.message}`);
      decidedIds.delete(item.id);
      decided -= 1;
      decidedSinceLoad -= 1;
      showStatus();
      render();
      showError(errorEl, `${item.filename} not labelled ${label}: ${err.detail || err.message}`);
    })
    .finally(() => {
      pending.delete(request);
      showPending();
    });
  pending.add(request);
  lastWrite.set(
    item.id,
    request.catch(() => {}),
  );
  showPending();
  toast(`${item.filename}: ${label}`);
  advance(1);
}

function advance(step) {
  index = Math.max(0, index + step);
  if (index >= queue.length) loadQueue();
  else render();
}

for (const b of document.querySelectorAll(".review-actions [data-action]")) {
  if (b.dataset.action === "good" || b.dataset.action === "defective") disable(b, readOnly, READ_ONLY);
  b.addEventListener("click", () => {
    const a = b.dataset.action;
    if (a === "good" || a === "defective") decide(a);
    else if (a === "skip") advance(1);
    else if (a === "back") advance(-1);
  });
}

document.addEventListener("keydown", (e) => {
  if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key.toLowerCase();
  const actions = {
    g: () => decide("good"),
    d: () => decide("defective"),
    s: () => advance(1),
    arrowright: () => advance(1),
    arrowleft: () => advance(-1),
    enter: () => queue[index] && window.location.assign(byTestId("open-labeller").href),
  };
  if (actions[k] && !(k === "enter" && e.target.closest && e.target.closest("button, a"))) {
    e.preventDefault();
    actions[k]();
  }
});

(async () => {
  threshold = await loadThreshold();
  await loadQueue();
})();

