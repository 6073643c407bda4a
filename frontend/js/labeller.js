// /projects/{id}/images/{image_id}/ — full-resolution viewer with zoom/pan, label keys, mask painter and
// heatmap overlay. Previous/next follow the gallery's filter and order, carried in the URL query.

import { get, getBlob, ifMatch, patch } from "./api.js";
import { byTestId, config, disable, loadPixels, showError, toast } from "./dom.js";
import { defectTypeField } from "./defect-type.js";
import { FILTER_KEYS, galleryHref } from "./nav.js";
import { labellerNav } from "./labeller-nav.js";
import { maskStore } from "./labeller-mask.js";
import { bindLabellerKeys } from "./labeller-keys.js";
import { MASK_RGB, MaskPainter } from "./painter.js";
import { loadPrediction as fetchPrediction } from "./labeller-prediction.js";
import { Viewport } from "./viewport.js";

const cfg = config();
const imageId = cfg.imageId;
const query = new URLSearchParams(window.location.search);
const filters = Object.fromEntries(FILTER_KEYS.map((k) => [k, query.get(k) || ""]));

const canvas = byTestId("mask-canvas");
const stage = byTestId("stage");
const ctx = canvas.getContext("2d");
const cursorEl = byTestId("brush-cursor");
const stageMsg = byTestId("stage-msg");
const sizeInput = byTestId("brush-size");
const maskOpacityInput = byTestId("mask-opacity");
const heatOpacityInput = byTestId("heatmap-opacity");
const heatThresholdInput = byTestId("heatmap-threshold");
const heatToggle = byTestId("heatmap-toggle");
const advanceInput = byTestId("advance-after-label");
// Remembered per browser: operators who label in one pass keep it on.
advanceInput.checked = localStorage.getItem("studio.advanceAfterLabel") === "1";
advanceInput.addEventListener("change", () => {
  localStorage.setItem("studio.advanceAfterLabel", advanceInput.checked ? "1" : "0");
  canvas.focus({ preventScroll: true });
});

// Pan and zoom (viewport.js); every change moves the brush cursor's size and redraws.
const view = new Viewport(canvas, stage, () => {
  updateCursorSize();
  requestDraw();
});
const readOnly = cfg.role === "viewer"; // viewers see masks and heatmaps but cannot paint (the API would refuse)
let image = null; // API image
let pixels = null; // HTMLImageElement with the image file
let painter = null;
let typeField = null; // the defect-type field (defect-type.js), once the image loads
let heat = null;
let heatCanvas = null;
let tool = "brush";
let spaceHeld = false;
let drag = null; // {kind: "paint"|"pan", ...}
// status, save, leave guards; writes are conditional on the revision this page last read
const mask = maskStore({ imageId, painter: () => painter, imageRevision: () => image && image.revision, refresh: refreshImage });
let labelConflict = null; // the label a 412 refused: pressing it again sets it anyway

// ---------- drawing ----------

let frame = 0;
function requestDraw() {
  if (!frame) frame = requestAnimationFrame(draw);
}

function draw() {
  frame = 0;
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!image) return;
  ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.tx, dpr * view.ty);
  ctx.imageSmoothingEnabled = view.scale < 2;
  if (pixels) ctx.drawImage(pixels, 0, 0, image.width, image.height);
  if (heatCanvas && heatToggle.checked) {
    ctx.globalAlpha = heatOpacityInput.value / 100;
    ctx.drawImage(heatCanvas, 0, 0, image.width, image.height);
  }
  if (painter) {
    ctx.globalAlpha = maskOpacityInput.value / 100;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(painter.canvas, 0, 0);
  }
  ctx.globalAlpha = 1;
  byTestId("zoom").textContent = `${Math.round(view.scale * 100)} %`;
}

function fit() {
  view.fit();
}

function toImage(e) {
  return view.toImage(e);
}

// ---------- pointer: paint, erase, pan, zoom ----------

function brushSize() {
  return parseInt(sizeInput.value, 10);
}

function updateCursorSize() {
  const d = Math.max(2, brushSize() * view.scale);
  cursorEl.style.width = `${d}px`;
  cursorEl.style.height = `${d}px`;
  byTestId("brush-size-value").textContent = sizeInput.value;
}

function moveCursor(e) {
  const r = canvas.getBoundingClientRect();
  const show = painter && !readOnly && !spaceHeld && tool !== "pan";
  cursorEl.hidden = !show;
  if (!show) return;
  cursorEl.style.transform = `translate(${e.clientX - r.left}px, ${e.clientY - r.top}px) translate(-50%, -50%)`;
  cursorEl.classList.toggle("erase", tool === "eraser");
}

canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const [, , sx, sy] = toImage(e);
  const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
  view.zoomAt(Math.exp(-delta * 0.0015), sx, sy);
}, { passive: false });

canvas.addEventListener("pointerdown", (e) => {
  if (!image) return;
  canvas.focus({ preventScroll: true });
  const [x, y, sx, sy] = toImage(e);
  const panning = e.button === 1 || (e.button === 0 && (spaceHeld || tool === "pan"));
  if (panning) {
    drag = { kind: "pan", sx, sy, tx: view.tx, ty: view.ty };
  } else if (e.button === 0 && painter && !readOnly) {
    drag = { kind: "paint" };
    painter.beginStroke(x, y, brushSize(), tool === "eraser");
    mask.setStatus();
  } else {
    return;
  }
  canvas.setPointerCapture(e.pointerId);
  e.preventDefault();
});

canvas.addEventListener("pointermove", (e) => {
  moveCursor(e);
  if (!drag) return;
  if (drag.kind === "pan") {
    const [, , sx, sy] = toImage(e);
    view.panTo(drag.tx + sx - drag.sx, drag.ty + sy - drag.sy);
    return;
  }
  // Coalesced events keep fast strokes smooth: every intermediate pointer position becomes a segment.
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of events.length ? events : [e]) {
    const [x, y] = toImage(ev);
    painter.extendStroke(x, y);
  }
});

function endDrag() {
  if (drag && drag.kind === "paint") {
    painter.endStroke();
    mask.setStatus();
    updateHistoryButtons();
    setLabelButtons(image.label); // unchanged until the mask is saved, which makes the image defective
  }
  drag = null;
}
canvas.addEventListener("pointerup", endDrag);
canvas.addEventListener("pointercancel", endDrag);
canvas.addEventListener("pointerleave", () => {
  cursorEl.hidden = true;
});
canvas.addEventListener("contextmenu", (e) => e.preventDefault());

// ---------- tools ----------

function setTool(t) {
  tool = t;
  for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === t));
  canvas.classList.toggle("panning", t === "pan");
}
for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => setTool(b.dataset.tool));

function setBrush(v) {
  sizeInput.value = String(Math.max(1, Math.min(parseInt(sizeInput.max, 10), Math.round(v))));
  updateCursorSize();
}
sizeInput.addEventListener("input", updateCursorSize);
maskOpacityInput.addEventListener("input", requestDraw);
heatOpacityInput.addEventListener("input", requestDraw);
heatToggle.addEventListener("change", requestDraw);
heatThresholdInput.addEventListener("input", renderHeat);

function updateHistoryButtons() {
  disable(byTestId("undo"), !painter || !painter.canUndo, "Nothing to undo on this image yet.");
  disable(byTestId("redo"), !painter || !painter.canRedo, "Nothing to redo: undo a step first.");
}

function undo() {
  if (painter && painter.undo()) mask.setStatus();
  updateHistoryButtons();
}
function redo() {
  if (painter && painter.redo()) mask.setStatus();
  updateHistoryButtons();
}

document.querySelector('[data-action="undo"]').addEventListener("click", undo);
document.querySelector('[data-action="redo"]').addEventListener("click", redo);
document.querySelector('[data-action="clear"]').addEventListener("click", () => {
  if (!painter) return;
  painter.clear();
  mask.setStatus();
  updateHistoryButtons();
});
document.querySelector('[data-action="fit"]').addEventListener("click", fit);
document.querySelector('[data-action="one-to-one"]').addEventListener("click", oneToOne);

function oneToOne() {
  view.oneToOne();
}

// ---------- labels ----------

function setLabelButtons(label) {
  for (const b of document.querySelectorAll("[data-label]")) b.setAttribute("aria-pressed", String(b.dataset.label === label));
  byTestId("current-label").textContent = label ? `label ${label}` : "";
}

async function setLabel(label) {
  const err = byTestId("label-error");
  showError(err, null);
  if (readOnly) return showError(err, "Viewers can look but not label: an owner can give you the labeller role."); // the keys too
  if (painter && painter.dirty) {
    if (label !== "defective" && painter.binary().area > 0) {
      showError(err, "Unsaved mask: save it (the image becomes defective) or clear it first.");
      return;
    }
    if (!(await mask.save())) return;
  }
  try {
    const condition = labelConflict === label ? {} : ifMatch(image && image.revision);
    image = await patch(`images/${imageId}/`, { label }, condition);
    labelConflict = null;
    setLabelButtons(image.label);
    // A label other than defective drops the mask and the defect type on the server: the page drops them too,
    // or a later touch-up and Save would store the old mask again (and make the image defective).
    if (!image.has_mask && painter && painter.binary().area > 0) {
      painter.clear();
      painter.markSaved();
      requestDraw();
    }
    mask.onServer = !!image.has_mask;
    if (typeField) typeField.show(image.defect_type);
    // The split the server chose (the split policy may send a new label to test): never a stale one.
    byTestId("current-split").textContent = image.split;
    mask.setStatus();
    toast(label === "unlabeled" ? "Label removed." : `Labelled ${label} (${image.split} split).`);
    if (advanceInput.checked) go(1);
  } catch (e) {
    if (e.status === 412) {
      labelConflict = label;
      showError(err, `Label not saved. ${e.detail} Or press ${label} again to set it anyway.`);
      return;
    }
    showError(err, `Label not saved: ${e.detail || e.message}`);
  }
}
for (const b of document.querySelectorAll("[data-label]")) b.addEventListener("click", () => setLabel(b.dataset.label));

// ---------- previous / next in the gallery's order (labeller-nav.js) ----------

const nav = labellerNav({ cfg, imageId, filters, query, beforeLeave: mask.save });
const go = nav.go;
document.querySelector('[data-action="prev"]').addEventListener("click", () => go(-1));
document.querySelector('[data-action="next"]').addEventListener("click", () => go(1));

// ---------- heatmap ----------

function renderHeat() {
  byTestId("heatmap-threshold-value").textContent = Number(heatThresholdInput.value).toFixed(3);
  if (!heat) return;
  heatCanvas = heat.render(Number(heatThresholdInput.value));
  requestDraw();
}

async function loadPrediction() {
  heat = await fetchPrediction(byTestId("prediction"), image, imageId);
  if (!heat) return;
  disable(byTestId("mask-from-heatmap"), readOnly, "Viewers cannot paint masks.");
  renderHeat();
}

byTestId("mask-from-heatmap").addEventListener("click", () => {
  if (!heat || !painter) return;
  const { canvas: bin, count } = heat.binary(Number(heatThresholdInput.value), MASK_RGB);
  if (!count) {
    showError(mask.error, "No heatmap pixel reaches the threshold: lower it to get a mask.");
    return;
  }
  showError(mask.error, null);
  // Replace the mask, or add the map's region to what is painted already (union); either is one undo step.
  const add = document.querySelector('input[name="heat-mode"]:checked')?.value === "add";
  if (add) painter.unionWith(bin);
  else painter.replaceWith(bin);
  mask.setStatus();
  updateHistoryButtons();
});

// ---------- keyboard (labeller-keys.js) ----------

bindLabellerKeys({
  undo,
  redo,
  save: mask.save,
  setLabel,
  go,
  setTool,
  smaller: () => setBrush(brushSize() / 1.25),
  larger: () => setBrush(Math.max(brushSize() + 1, brushSize() * 1.25)),
  fit,
  oneToOne,
  toggleHeat: () => {
    heatToggle.checked = !heatToggle.checked;
    requestDraw();
  },
  space: (down, e) => {
    if (!down) {
      spaceHeld = false;
      canvas.classList.toggle("panning", tool === "pan");
      return;
    }
    if (!spaceHeld) {
      spaceHeld = true;
      canvas.classList.add("panning");
      cursorEl.hidden = true;
    }
    if (e.target === canvas || e.target === document.body) e.preventDefault();
  },
});

// ---------- boot ----------

async function refreshImage() {
  image = await get(`images/${imageId}/`);
  view.setContent(image.width, image.height);
  mask.onServer = !!image.has_mask;
  setLabelButtons(image.label);
  byTestId("current-split").textContent = image.split;
}

async function boot() {
  for (const a of document.querySelectorAll('.tabs a[href$="/projects/' + cfg.projectId + '/"]')) a.href = galleryHref(cfg, filters);
  updateCursorSize();
  updateHistoryButtons();
  renderHeat();
  if (readOnly) setTool("pan");
  for (const b of document.querySelectorAll("[data-label]")) disable(b, readOnly, "Viewers can look but not label: an owner can give you the labeller role.");
  try {
    await refreshImage();
  } catch (err) {
    stageMsg.textContent = `Could not load the image: ${err.detail || err.message}`;
    stageMsg.classList.add("error");
    return;
  }
  byTestId("filename").textContent = image.filename;
  byTestId("dims").textContent = `${image.width} × ${image.height}`;
  document.title = `${image.filename} · ${cfg.projectName}`;
  typeField = defectTypeField({ projectId: cfg.projectId, image, readOnly, onSaved: (u) => Object.assign(image, { defect_type: u.defect_type, revision: u.revision }) });
  painter = new MaskPainter(image.width, image.height, requestDraw);
  try {
    // view_url: full resolution, 8 bits, the pixels the model sees (16-bit, float and TIFF rendered by the server).
    pixels = await loadPixels(image.view_url || image.file_url);
    stageMsg.hidden = true;
  } catch {
    try {
      pixels = await loadPixels(image.thumbnail_url);
      stageMsg.textContent = "This browser cannot show the original file; showing its thumbnail at full size.";
    } catch (err) {
      stageMsg.textContent = `Could not show the image: ${err.message}`;
      stageMsg.classList.add("error");
    }
  }
  stage.dataset.ready = "true";
  fit();
  if (mask.onServer) {
    try {
      const blob = await getBlob(`images/${imageId}/mask/`);
      if (blob) await painter.load(blob);
    } catch (err) {
      showError(mask.error, `Could not load the saved mask: ${err.detail || err.message}`);
    }
  }
  mask.setStatus();
  updateHistoryButtons();
  canvas.dataset.ready = "true";
  canvas.focus({ preventScroll: true });
  loadPrediction();
  await nav.updatePosition();
  nav.prefetchNext();
}

boot();
