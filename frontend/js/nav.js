// The gallery's current filter and order travel to the labeller in the URL query, with the image's
// 1-based position `pos` in that order, so previous/next follow what the user was looking at.

export const FILTER_KEYS = ["label", "split", "has_mask", "predicted", "defect_type", "ordering"];

export function labellerHref(cfg, imageId, filters, pos) {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (filters[k]) q.set(k, filters[k]);
  if (pos) q.set("pos", pos);
  const qs = q.toString();
  return `${cfg.urls.labellerPrefix}${imageId}/${qs ? `?${qs}` : ""}`;
}

export function galleryHref(cfg, filters) {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (filters[k]) q.set(k, filters[k]);
  const qs = q.toString();
  return `${cfg.urls.gallery}${qs ? `?${qs}` : ""}`;
}
