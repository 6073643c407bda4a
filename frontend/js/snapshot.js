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
