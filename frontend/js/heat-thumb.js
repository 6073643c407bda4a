// A thumbnail with its heatmap over it (the 8-bit anomaly map coloured by heatmap.js, pixels under the map
// threshold transparent) and a verdict badge: the tiles of the models page (mistakes, changed verdicts)
// and of the inspect page. Heatmaps are decoded when the tile scrolls into view, a few at a time.

import { getBlob } from "./api.js";
import { h } from "./dom.js";
import { Heatmap } from "./heatmap.js";

const MAP_THRESHOLD = 0.5; // sigmoid 0: the labeller's default
let queue = Promise.resolve();

const seen = new IntersectionObserver(
  (entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      seen.unobserve(e.target);
      const load = e.target._loadHeat;
      if (load) queue = queue.then(load, load);
    }
  },
  { rootMargin: "200px" },
);

/** {src, alt, heatmapUrl, href, badges: [node], caption, testid, data} -> <li> */
export function heatThumb({ src, alt, heatmapUrl, href, badges = [], caption, testid = "heat-thumb", data = {} }) {
  const canvas = h("canvas", { class: "heat-layer", "aria-hidden": "true" });
  const img = src ? h("img", { src, alt, loading: "lazy", decoding: "async" }) : h("span", { class: "no-image" }, alt);
  const body = h("div", { class: "heat-box" }, img, canvas);
  const li = h(
    "li",
    { class: "heat-thumb", "data-testid": testid, dataset: data },
    href ? h("a", { href, title: `Open ${alt} in the labeller` }, body) : body,
    h("div", { class: "heat-badges" }, ...badges),
    caption ? h("div", { class: "heat-caption", title: caption }, caption) : null,
  );
  if (heatmapUrl) {
    li._loadHeat = async () => {
      try {
        const blob = await getBlob(heatmapUrl);
        if (!blob) return;
        const heat = await Heatmap.fromBlob(blob);
        const layer = heat.render(MAP_THRESHOLD);
        canvas.width = layer.width;
        canvas.height = layer.height;
        canvas.getContext("2d").drawImage(layer, 0, 0);
        li.dataset.heatmap = "drawn";
      } catch {
        li.dataset.heatmap = "missing";
      }
    };
    li.dataset.heatmap = "pending";
    seen.observe(li);
  }
  return li;
}

export function verdictBadge(defective, testid = "verdict") {
  return h(
    "span",
    { class: `badge ${defective ? "badge-defective" : "badge-good"}`, "data-testid": testid },
    defective ? "defective" : "good",
  );
}
