// "?" opens a keyboard-help overlay on every page (loaded by base.html, next to the page's own module).
// The keys listed are the page's own; Esc or the Close button closes it.

import { h, isTyping } from "./dom.js";

const COMMON = [["?", "this help"], ["Esc", "close this help"]];
const KEYS = {
  projects: [],
  gallery: [
    ["Click, Shift+click", "select a tile, select a range"],
    ["Ctrl/Shift+click on an image", "select instead of opening"],
    ["Ctrl+A", "select the page"],
    ["Esc", "clear the selection"],
    ["Enter on the drop area", "choose files to upload"],
  ],
  labeller: [
    ["G D U", "label good / defective / unlabeled"],
    ["← →", "previous / next image (saves the mask first)"],
    ["B E H", "brush / eraser / pan; hold Space to pan"],
    ["[ ]", "brush smaller / larger"],
    ["Ctrl+Z, Ctrl+Shift+Z", "undo / redo"],
    ["Ctrl+S", "save mask"],
    ["F, 1", "fit to screen, actual pixels"],
    ["M", "heatmap on / off"],
  ],
  review: [
    ["G", "good, next"],
    ["D", "defective, next"],
    ["S or →", "skip"],
    ["←", "back"],
    ["Enter", "open in the labeller"],
  ],
  training: [["Enter in a threshold box", "set the threshold"]],
  models: [["Enter in the version pickers", "compare the two versions"]],
  inspect: [["Enter on the drop area", "choose files to score"]],
  members: [["Enter in the user name field", "add the member"]],
};

let dialog = null;

function build(page) {
  const rows = [...(KEYS[page] || []), ...COMMON];
  const close = h("button", { type: "button", class: "btn", "data-testid": "keyhelp-close" }, "Close");
  dialog = h(
    "dialog",
    { class: "keyhelp", "data-testid": "keyhelp", "aria-labelledby": "keyhelp-title" },
    h("h2", { id: "keyhelp-title" }, "Keyboard"),
    h("dl", { class: "keys" }, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("div", { class: "row" }, close),
  );
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (e) => {
    if (e.target === dialog) dialog.close(); // a click on the backdrop
  });
  document.body.append(dialog);
}

export function openKeyHelp() {
  const page = (document.body.className.match(/page-([\w-]+)/) || [])[1] || "plain";
  if (!dialog) build(page);
  if (!dialog.open) dialog.showModal();
}

document.addEventListener("keydown", (e) => {
  if (e.key !== "?" || isTyping(e) || e.ctrlKey || e.metaKey || e.altKey) return;
  e.preventDefault();
  if (dialog && dialog.open) dialog.close();
  else openKeyHelp();
});
for (const b of document.querySelectorAll("[data-action='keyhelp']")) b.addEventListener("click", openKeyHelp);
