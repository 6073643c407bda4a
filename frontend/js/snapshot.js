// A training snapshot in words: what a run trains on ({images, good, defective, masks, train, test}) and
// what changed since the previous version ({added, removed, relabelled, masks, moved}; null for a first one).

import { fmt } from "./dom.js";

const plural = fmt.count;

export function describeCounts(s) {
  const tr = s.train || {};
  const te = s.test || {};
  return (
    `${plural(s.images ?? 0, "image")}: ${s.good ?? 0} good, ${s.defective ?? 0} defective, ${plural(s.masks ?? 0, "mask")}` +
    ` (train ${tr.images ?? 0}, test ${te.images ?? 0})`
  );
}

/**
 * What a run trains on and tests on, by its mode: an unsupervised run learns from the good train images only
 * (defective ones are not shown to it), a supervised one from all train images; the test split is only scored.
 * "trains on 25 good images (unsupervised) · tests on 42: 10 good, 32 defective, 32 masks"
 */
export function describeRun(s, mode) {
  const tr = s.train || {};
  const te = s.test || {};
  const learns =
    mode === "unsupervised"
      ? `${plural(tr.good ?? 0, "good image")} (unsupervised: the defective ones are not trained on)`
      : `${plural(tr.images ?? 0, "image")}: ${tr.good ?? 0} good, ${tr.defective ?? 0} defective, ${plural(tr.masks ?? 0, "mask")}`;
  const tests = te.images
    ? `tests on ${te.images}: ${te.good ?? 0} good, ${te.defective ?? 0} defective, ${plural(te.masks ?? 0, "mask")}`
    : "no test split (no metrics)";
  return `${learns} · ${tests}`;
}

/** "changed since version N: +A added, R relabelled, M new masks, −D removed, K moved" (null before any version). */
export function describeChanges(s) {
  const c = s && s.changed;
  if (!c) return null;
  const parts = [];
  if (c.added) parts.push(`+${c.added} added`);
  if (c.relabelled) parts.push(`${c.relabelled} relabelled`);
  if (c.masks) parts.push(`${plural(c.masks, "new mask")}`);
  if (c.removed) parts.push(`\u2212${c.removed} removed`);
  if (c.moved) parts.push(`${c.moved} moved between splits`);
  const v = s.previous_version;
  return parts.length ? `changed since version ${v}: ${parts.join(", ")}` : `nothing changed since version ${v}`;
}

export const isUnchanged = (s) => !!(s && s.changed) && !Object.values(s.changed).some(Boolean);
