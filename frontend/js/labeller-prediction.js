/** The labeller's prediction panel: the active model's score against its threshold, the verdict, and the
 * heatmap (loaded as a Heatmap for the overlay). */
import { get, getBlob } from "./api.js";
import { Heatmap } from "./heatmap.js";
import { predictedDefective, scorePair } from "./verdict.js";

/** Fill `el` with the prediction of `image`; resolves to its Heatmap, or null when there is none to show. */
export async function loadPrediction(el, image, imageId) {
  try {
    // The image says whether the active model scored it; only then ask for the prediction (no 404s).
    const pred = image.prediction === null ? null : await get(`images/${imageId}/prediction/`);
    if (!pred) {
      el.textContent = "No prediction yet: train a model (Training tab) to see heatmaps.";
      return null;
    }
    let threshold = pred.threshold ?? null;
    if (threshold === null && pred.model !== undefined && pred.model !== null) {
      const model = await get(`models/${pred.model}/`).catch(() => null);
      threshold = model ? model.threshold : null;
    }
    const defective = predictedDefective(pred, threshold);
    const [scoreShown, thresholdShown] = scorePair(pred.score, threshold);
    el.classList.remove("muted");
    el.replaceChildren(
      `Score `,
      Object.assign(document.createElement("strong"), { textContent: scoreShown, className: "mono" }),
      threshold !== null ? ` vs threshold ${thresholdShown}${pred.score === threshold ? " (at the threshold)" : ""}` : "",
      " → ",
      Object.assign(document.createElement("span"), {
        textContent: `predicted ${defective ? "defective" : "good"}`,
        className: `badge ${defective ? "badge-defective" : "badge-good"}`,
      }),
    );
    el.dataset.defective = String(defective);
    if (!pred.heatmap_url) return null;
    const blob = await getBlob(pred.heatmap_url);
    if (!blob) {
      el.append(" (heatmap file missing)");
      return null;
    }
    return await Heatmap.fromBlob(blob);
  } catch (err) {
    el.textContent = `Heatmap unavailable: ${err.detail || err.message}`;
    el.classList.add("error");
    return null;
  }
}
