// The threshold rule, in one place for every page: a score at or above the threshold is defective
// (`score >= threshold`), as the API's `is_defective` and ml.metrics.is_defective say. Scores and
// thresholds arrive as JSON numbers, doubles that hold the stored float32 values exactly, so this
// comparison agrees with Python and SQL to the last bit.

/** True when `score >= threshold`; null when either is unknown. */
export function isDefective(score, threshold) {
  if (typeof score !== "number" || typeof threshold !== "number") return null;
  return score >= threshold;
}

/** A prediction's verdict: the rule on its score when the threshold is known, else the API's `is_defective`. */
export function predictedDefective(pred, threshold) {
  if (!pred) return false;
  const ruled = isDefective(pred.score, threshold);
  return ruled === null ? !!pred.is_defective : ruled;
}

/**
 * Score and threshold as text, 3 decimals unless that would show two different numbers alike: then as
 * many as it takes to tell them apart ("0.5592876 vs 0.5592885", never "0.559 vs 0.559").
 */
export function scorePair(score, threshold) {
  if (typeof score !== "number") return ["–", typeof threshold === "number" ? threshold.toFixed(3) : "–"];
  if (typeof threshold !== "number" || score === threshold) {
    const s = score.toFixed(3);
    return [s, typeof threshold === "number" ? s : "–"];
  }
  for (let digits = 3; digits <= 20; digits++) {
    const s = score.toFixed(digits);
    const t = threshold.toFixed(digits);
    if (s !== t) return [s, t];
  }
  return [String(score), String(threshold)];
}

/** The score alone, with the digits that tell it apart from the threshold. */
export function scoreText(score, threshold) {
  return scorePair(score, threshold)[0];
}
