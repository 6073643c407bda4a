// The models page's comparison of two versions on the same test images:
// GET /api/v1/models/{a}/compare/{b}/ -> both versions' scores and verdicts per image, a summary of what
// changed, and both versions' metrics. Shown as metrics side by side, a score scatter and the images that
// changed verdict (thumbnails with B's heatmap, one click to the labeller).

import { get } from "./api.js";
import { byTestId, disable, fmt, h, showError } from "./dom.js";
import { scatter } from "./charts.js";
import { heatThumb, verdictBadge } from "./heat-thumb.js";
import { scoreText } from "./verdict.js";

export function initCompare({ cfg, versions, versionOptions, metrics }) {
  const form = byTestId("compare-form");
  const selA = byTestId("compare-a");
  const selB = byTestId("compare-b");
  const button = byTestId("compare");
  const error = byTestId("compare-error");
  // Default: the previous version (A) against the newest or the active one (B).
  const b = versions.find((m) => m.is_active) || versions[0];
  const a = versions.find((m) => b && m.id !== b.id);
  versionOptions(selA, versions, a && a.id);
  versionOptions(selB, versions, b && b.id);
  const check = () => {
    const why = versions.length < 2 ? "Train a second version to compare two." : selA.value === selB.value ? "Pick two different versions." : "";
    disable(button, !!why, why);
  };
  selA.addEventListener("change", check);
  selB.addEventListener("change", check);
  check();

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    showError(error, null);
    try {
      const data = await get(`models/${selA.value}/compare/${selB.value}/`);
      show(cfg, data, metrics);
    } catch (err) {
      showError(error, `Could not compare: ${err.detail || err.message}`);
    }
  });
  if (!button.disabled) form.requestSubmit();
}

function show(cfg, data, metrics) {
  const { a, b, summary, images } = data;
  byTestId("compare-result").hidden = false;
  const s = byTestId("compare-summary");
  s.dataset.changed = String(summary.changed);
  s.dataset.images = String(summary.images);
  s.textContent =
    `${summary.images} test image${summary.images === 1 ? "" : "s"} held out by both (in the test split of both ` +
    "trainings, so neither learnt from them); " +
    `${summary.changed} changed verdict (v${a.version} → v${b.version}): ${summary.fixed} fixed, ${summary.broken} broken. ` +
    `Correct: v${a.version} ${summary.correct_a}, v${b.version} ${summary.correct_b}.`;
  byTestId("compare-head-a").textContent = `v${a.version}`;
  byTestId("compare-head-b").textContent = `v${b.version}`;
  // Side by side only what was measured on the same images: the image metrics on the compared ones (each
  // version's stored figures come from its own test split, and those differ when the splits changed).
  const common = metrics.filter(([k]) => k in (a.on_these_images || {}));
  const rows = [["threshold", "Threshold"], ...common].map(([k, label]) => {
    const va = k === "threshold" ? a.threshold : a.on_these_images[k];
    const vb = k === "threshold" ? b.threshold : b.on_these_images[k];
    const d = typeof va === "number" && typeof vb === "number" ? vb - va : null;
    return h(
      "tr",
      { "data-testid": "compare-metric", "data-metric": k },
      h("td", {}, label),
      h("td", { class: "num" }, fmt.metric(va)),
      h("td", { class: "num" }, fmt.metric(vb)),
      h("td", { class: `num ${d > 0 ? "ok" : d < 0 ? "error" : ""}` }, d === null ? "–" : `${d > 0 ? "+" : ""}${d.toFixed(3)}`),
    );
  });
  byTestId("compare-metrics").querySelector("tbody").replaceChildren(...rows);
  scatter(
    byTestId("compare-scatter"),
    images.map((i) => ({
      x: i.score_a,
      y: i.score_b,
      cls: `${i.label}${i.changed ? " changed" : ""}`,
      title: `${i.filename} (${i.label}): v${a.version} ${scoreText(i.score_a, a.threshold)}, v${b.version} ${scoreText(i.score_b, b.threshold)}`,
    })),
    { title: "Scores", xLabel: `score v${a.version}`, yLabel: `score v${b.version}`, xThreshold: a.threshold, yThreshold: b.threshold },
  );
  const changed = images.filter((i) => i.changed);
  byTestId("changed-card").hidden = false;
  byTestId("changed-count").textContent = `${changed.length}`;
  byTestId("changed-list").replaceChildren(
    ...changed.map((i) =>
      heatThumb({
        src: i.thumbnail_url,
        alt: i.filename,
        href: `${cfg.urls.labellerPrefix}${i.image}/`,
        testid: "changed-image",
        data: { id: i.image },
        caption: `${i.filename} · ${i.label}`,
        badges: [
          h("span", { class: "badge" }, `v${a.version}`),
          verdictBadge(i.is_defective_a, "verdict-a"),
          h("span", { class: "badge" }, `→ v${b.version}`),
          verdictBadge(i.is_defective_b, "verdict-b"),
        ],
      }),
    ),
  );
  if (!changed.length) byTestId("changed-list").replaceChildren(h("li", { class: "muted" }, "No test image changed verdict."));
}
