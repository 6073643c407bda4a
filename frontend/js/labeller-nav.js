// The labeller's previous / next, in the gallery's filter and order (carried in the URL query with the
// image's 1-based position `pos`). Next also carries where it came from (`back`, `back_pos`), so Prev
// returns to the image just labelled even when labelling took it out of a filtered list.

import { get } from "./api.js";
import { byTestId, toast } from "./dom.js";
import { labellerHref } from "./nav.js";

/** `beforeLeave()` resolves false to stay (unsaved work that could not be saved). */
export function labellerNav({ cfg, imageId, filters, query, beforeLeave }) {
  let pos = parseInt(query.get("pos") || "0", 10) || 0;
  const back = parseInt(query.get("back") || "0", 10) || 0;
  const backPos = parseInt(query.get("back_pos") || "0", 10) || 0;
  const list = (page, size = 1) => get(`projects/${cfg.projectId}/images/`, { ...filters, page, page_size: size });

  /** The image at 1-based position `p` of the gallery's order, or null past either end. */
  async function itemAt(p) {
    if (p < 1) return null;
    // Page 1 always exists (even empty); asking for a page past the end is a 404, so check the count first.
    const first = await list(1);
    if (p > first.count) return null;
    const data = p === 1 ? first : await list(p);
    return { item: data.results[0] || null, count: data.count };
  }

  async function findPosition() {
    // Opened without a position (a bookmark, a pasted link): look for the image in the first pages.
    for (let page = 1; page <= 4; page++) {
      const data = await list(page, 500);
      const i = data.results.findIndex((r) => r.id === imageId);
      if (i >= 0) return (page - 1) * 500 + i + 1;
      if (!data.next) break;
    }
    return 0;
  }

  async function updatePosition() {
    try {
      if (!pos) pos = await findPosition();
      const data = await list(1);
      byTestId("position").textContent = pos
        ? `${pos.toLocaleString()} / ${data.count.toLocaleString()}`
        : "not in the current filter";
    } catch (err) {
      byTestId("position").textContent = `position unknown: ${err.detail || err.message}`;
    }
  }

  function href(id, p, from) {
    const u = new URL(labellerHref(cfg, id, filters, p), window.location.origin);
    if (from) {
      u.searchParams.set("back", String(imageId));
      if (pos) u.searchParams.set("back_pos", String(pos));
    }
    return u.pathname + u.search;
  }

  async function go(dir) {
    if (!(await beforeLeave())) return;
    try {
      if (dir < 0 && back && back !== imageId) {
        // Back to the image this one was reached from, at the position it had then.
        window.location.assign(href(back, backPos, false));
        return;
      }
      let target = pos + dir;
      if (pos) {
        // If this image left the filtered list (e.g. it was labelled while filtering "unlabeled"),
        // the next image has moved up into this image's place.
        const here = await itemAt(pos);
        if (!here || !here.item || here.item.id !== imageId) target = dir > 0 ? pos : pos - 1;
      } else {
        target = dir > 0 ? 1 : 0;
      }
      const next = await itemAt(target);
      if (!next || !next.item) {
        toast(dir > 0 ? "This is the last image." : "This is the first image.");
        return;
      }
      window.location.assign(href(next.item.id, target, dir > 0));
    } catch (err) {
      toast(`Cannot move: ${err.detail || err.message}`, "error");
    }
  }

  /** Warm the browser cache with the next image's file, so → shows it without waiting. */
  async function prefetchNext() {
    if (!pos) return;
    try {
      const next = await itemAt(pos + 1);
      if (next && next.item) new Image().src = next.item.view_url || next.item.file_url;
    } catch {
      // Only a speed-up: navigation itself reports errors.
    }
  }

  return { go, updatePosition, prefetchNext, itemAt };
}
