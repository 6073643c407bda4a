// The model versions table of the training page: one row per version (metrics, threshold, activation) and the
// curves of the version shown (score histogram with the threshold, ROC, precision/recall).
import { patch, post } from "./api.js";
import { byTestId, disable, fmt, h, showError, toast } from "./dom.js";
import { histogram, lineChart } from "./charts.js";
import { describeChanges, describeCounts } from "./snapshot.js";

function metricCell(v) {
  return h("td", { class: "num" }, fmt.metric(v));
}

/**
 * F1 at the version's threshold and, when that threshold was tuned on the same test images (which flatters it),
 * beneath it what the threshold rule gets on test images it was not chosen on (metrics.threshold_cross_validated).
 */
export function f1Content(mt) {
  const cv = mt && mt.threshold_cross_validated;
  if (!cv) return [fmt.metric(mt && mt.f1)];
  return [
    fmt.metric(mt.f1),
    h(
      "div",
      {
        class: "muted small",
        "data-testid": "f1-cross-validated",
        title:
          `The threshold was chosen on these test images, so F1 ${fmt.metric(mt.f1)} is what it gets at its best. ` +
          `Judged on test images it was not chosen on (${cv.folds} folds): F1 ${fmt.metric(cv.f1)}, ` +
          `precision ${fmt.metric(cv.precision)}, recall ${fmt.metric(cv.recall)}: expect about that on new parts.`,
      },
      `unseen ${fmt.metric(cv.f1)}`,
    ),
  ];
}

/**
 * One version's row: metrics, the threshold field, Activate and Curves.
 * @param {object} m the API model version
 * @param {{show: (m: object) => void, shown: () => number | null, reload: () => Promise<void>, readOnly?: boolean}} actions
 *   readOnly: a viewer's row (threshold and Activate disabled, saying why)
 */
export function modelRow(m, { show, shown, reload, readOnly = false }) {
  const mt = m.metrics || {};
  const tc = m.train_counts || {};
  const asShown = (t) => String(Number(Number(t).toFixed(6)));
  const thr = h("input", {
    type: "number",
    step: "0.001",
    min: "0",
    max: "1",
    value: asShown(m.threshold),
    class: "num-6",
    "aria-label": `Threshold of version ${m.version}`,
    "data-testid": "threshold-input",
  });
  const err = h("span", { class: "error small", role: "alert", hidden: true, "data-testid": "threshold-error" });
  const save = h("button", { type: "button", class: "btn btn-quiet", "data-testid": "threshold-save" }, "Set");
  const submit = async () => {
    // an empty field is not 0 (which would call every image defective)
    // the value as shown (6 decimals) stands for the exact threshold: Set on it must not move it by a hair
    const typed = thr.value.trim();
    const v = typed === "" ? NaN : typed === asShown(m.threshold) ? m.threshold : Number(typed);
    if (!Number.isFinite(v) || v < 0 || v > 1) {
      showError(err, "Enter a threshold from 0 to 1.");
      return;
    }
    try {
      const updated = await patch(`models/${m.id}/`, { threshold: v });
      Object.assign(m, updated);
      showError(err, null);
      toast(`Threshold of v${m.version} set to ${fmt.score(m.threshold)}.`);
      if (shown() === m.id) show(m);
    } catch (e) {
      showError(err, e.detail || e.message);
    }
  };
  save.addEventListener("click", submit);
  thr.addEventListener("keydown", (e) => e.key === "Enter" && submit());
  const activate = m.is_active
    ? h("span", { class: "badge badge-good", "data-testid": "active-badge" }, "active")
    : h(
        "button",
        {
          type: "button",
          class: "btn",
          "data-testid": "activate",
          onclick: async (e) => {
            if (isInverted(m) && !window.confirm(invertedQuestion(m))) return;
            e.target.disabled = true;
            try {
              await post(`models/${m.id}/activate/`, {});
              toast(`Version ${m.version} is now active.`);
              await reload();
            } catch (x) {
              showError(err, `Not activated: ${x.detail || x.message}`);
              e.target.disabled = false;
            }
          },
        },
        "Activate",
      );
  if (readOnly) {
    const why = "Viewers cannot set thresholds or activate versions: an owner can give you the labeller role.";
    for (const el of [thr, save, m.is_active ? null : activate]) disable(el, true, why);
  }
  const curves = h("button", { type: "button", class: "btn btn-quiet", onclick: () => show(m) }, "Curves");
  return h(
    "tr",
    { "data-testid": "model-row", "data-id": m.id, class: m.is_active ? "active" : "" },
    h(
      "td",
      {},
      h("strong", {}, `v${m.version}`),
      h("div", { class: "muted small" }, fmt.date(m.created_at)),
      // API `warnings`: "inverted" (test image AUROC < 0.5), "chance" (= 0.5), "non_commercial_backbone" (licence).
      ...(m.warnings || []).map((w) =>
        h("div", { class: "badge badge-bad", "data-testid": `warning-${w.code}`, title: w.detail }, w.detail),
      ),
      notActivatedWhy(m),
    ),
    h("td", {}, m.mode),
    h("td", { class: "small" }, `${m.backbone} @ ${m.image_height ?? m.image_size}×${m.image_width ?? m.image_size}${m.tiling && m.tiling !== "off" ? `, tiles ${m.tiling}` : ""}`),
    h(
      "td",
      { class: "small" },
      `${tc.good ?? 0} good, ${tc.defective ?? 0} def., ${fmt.count(tc.masks ?? 0, "mask")}`,
      m.snapshot &&
        h(
          "div",
          { class: "muted", "data-testid": "version-changes", title: describeCounts(m.snapshot) },
          describeChanges(m.snapshot) || "first version",
        ),
    ),
    metricCell(mt.image_auroc),
    metricCell(mt.image_ap),
    metricCell(mt.pixel_auroc),
    metricCell(mt.aupro),
    h("td", { class: "num" }, ...f1Content(mt)),
    h("td", {}, h("div", { class: "row tight" }, thr, save), err),
    h("td", {}, h("div", { class: "row tight" }, activate, curves)),
  );
}

/** Why a version the studio compared at its end did not become active: it ranked the held-out images worse. */
function notActivatedWhy(m) {
  const c = m.compared_with;
  if (m.is_active || !c || c.image_auroc == null || c.new_image_auroc == null || c.new_image_auroc >= c.image_auroc) return null;
  const on = c.images ? `on the ${c.images} test images v${c.version} never trained on` : "on the same test images";
  return h(
    "div",
    { class: "muted small", "data-testid": "not-activated-why" },
    `Not activated by itself: ${on}, its image AUROC was ${fmt.metric(c.new_image_auroc)}, v${c.version}'s ${fmt.metric(c.image_auroc)}.`,
  );
}

export function showCurves(m) {
  const c = m.curves || {};
  const box = byTestId("curves");
  box.hidden = false;
  box.dataset.model = m.id;
  const hist = c.histogram || {};
  histogram(byTestId("histogram"), hist.bins, hist.good, hist.defective, m.threshold);
  const roc = c.roc || {};
  lineChart(byTestId("roc"), [{ points: (roc.fpr || []).map((x, i) => [x, roc.tpr[i]]), cls: "roc" }], {
    title: `ROC of v${m.version}`,
    xLabel: "false positive rate",
    yLabel: "true positive rate",
    xDomain: [0, 1],
    yDomain: [0, 1],
    diagonal: true,
  });
  const pr = c.pr || {};
  lineChart(byTestId("pr"), [{ points: (pr.recall || []).map((x, i) => [x, pr.precision[i]]), cls: "pr" }], {
    title: `Precision/recall of v${m.version}`,
    xLabel: "recall",
    yLabel: "precision",
    xDomain: [0, 1],
    yDomain: [0, 1],
  });
}

/** A version no better than chance (API warning "inverted": test image AUROC below 0.5, or "chance": 0.5) is
 * activated only on a second "yes". */
function isInverted(m) {
  return (m.warnings || []).some((w) => w.code === "inverted" || w.code === "chance");
}

function invertedQuestion(m) {
  const auroc = m.metrics && m.metrics.image_auroc;
  const how = auroc != null && auroc < 0.5 ? "scores defective test images lower than good ones" : "tells defective test images from good ones no better than chance";
  return `Version ${m.version} ${how} (image AUROC ${fmt.metric(auroc)}): its verdicts and its worst-first order would be wrong. Activate it anyway?`;
}
