// The active model's mistakes on the test split at its threshold: false positives (labelled good,
// predicted defective) and false negatives (labelled defective, predicted good), read through the
// images list's documented filters, as thumbnails with heatmaps; a click opens the labeller walking
// through the same list (its filter travels in the link).

import { get } from "./api.js";
import { byTestId, h } from "./dom.js";
import { heatThumb, verdictBadge } from "./heat-thumb.js";
import { labellerHref } from "./nav.js";
import { scoreText } from "./verdict.js";

const KINDS = [
  // Most confident mistakes first.
  { key: "fp", filters: { split: "test", label: "good", predicted: "defective", ordering: "-score" } },
  { key: "fn", filters: { split: "test", label: "defective", predicted: "good", ordering: "score" } },
];
const LIMIT = 60;

export async function loadMistakes({ cfg, active }) {
  if (!active) {
    byTestId("mistakes-note").textContent = "No active model: activate a version on the Training tab to see its mistakes.";
    return;
  }
  byTestId("mistakes-note").textContent =
    `v${active.version} at threshold ${String(Number(Number(active.threshold).toFixed(6)))} on today's test split ` +
    "(its images and labels as they are now; the version's metrics were measured on the split frozen when it " +
    "trained, so the counts may differ). Click an image to open it in the labeller.";
  await Promise.all(
    KINDS.map(async ({ key, filters }) => {
      const list = byTestId(`${key}-list`);
      const count = byTestId(`${key}-count`);
      try {
        const data = await get(`projects/${cfg.projectId}/images/`, { ...filters, page_size: LIMIT });
        count.textContent = `${data.count}`;
        count.dataset.count = String(data.count);
        list.replaceChildren(
          ...data.results.map((img, i) =>
            heatThumb({
              src: img.thumbnail_url,
              alt: img.filename,
              heatmapUrl: img.prediction && img.prediction.heatmap_url,
              href: labellerHref(cfg, img.id, filters, i + 1),
              testid: `${key}-image`,
              data: { id: img.id },
              caption: img.filename,
              badges: [
                h("span", { class: "badge badge-score" }, scoreText(img.prediction?.score, active.threshold)),
                verdictBadge(key === "fp"),
                img.defect_type ? h("span", { class: "badge badge-type" }, img.defect_type) : null,
              ],
            }),
          ),
        );
        if (!data.count) list.replaceChildren(h("li", { class: "muted small" }, "None."));
        else if (data.count > LIMIT) list.append(h("li", { class: "muted small" }, `…and ${data.count - LIMIT} more (most confident shown).`));
      } catch (err) {
        list.replaceChildren(h("li", { class: "error" }, `Could not load: ${err.detail || err.message}`));
      }
    }),
  );
}
