// Mask painter: the mask lives on an offscreen canvas at the image's own resolution (so a stroke is
// stored exactly where it was painted, whatever the zoom), drawn over the image by the viewer.
// Undo keeps, per step, only the bounding box of what changed (before and after), not whole masks.

import { encodeGrayPng } from "./png.js";

export const MASK_RGB = [0, 215, 255];
const MAX_HISTORY = 40;
const MAX_HISTORY_PIXELS = 80_000_000; // about 320 MB of RGBA at worst; older steps are dropped first

function makeCanvas(w, h) {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  return c;
}

export class MaskPainter {
  constructor(width, height, onChange) {
    this.width = width;
    this.height = height;
    this.canvas = makeCanvas(width, height);
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: false });
    this.backup = null;
    this.history = [];
    this.cursor = 0; // history[0..cursor) are applied
    // `revision` names the mask's current state: every edit makes a new one, undo and redo return to the
    // state they restore, so undoing back to what was saved is "saved" again (not "unsaved changes").
    this.revision = 0;
    this.savedRevision = 0;
    this.nextRevision = 1;
    this.stroke = null;
    this.onChange = onChange || (() => {});
  }

  get dirty() {
    return this.revision !== this.savedRevision;
  }

  markSaved() {
    this.savedRevision = this.revision;
  }

  /** Replace the mask with a decoded {0,255} PNG (any non-zero pixel is defect). Not an undo step. */
  async load(blob) {
    const bmp = await createImageBitmap(blob);
    const tmp = makeCanvas(this.width, this.height);
    const tctx = tmp.getContext("2d", { willReadFrequently: true });
    tctx.imageSmoothingEnabled = false;
    tctx.drawImage(bmp, 0, 0, this.width, this.height);
    const data = tctx.getImageData(0, 0, this.width, this.height);
    const px = data.data;
    const [r, g, b] = MASK_RGB;
    for (let i = 0; i < px.length; i += 4) {
      const on = px[i] > 0 || px[i + 1] > 0 || px[i + 2] > 0;
      px[i] = r;
      px[i + 1] = g;
      px[i + 2] = b;
      px[i + 3] = on ? 255 : 0;
    }
    this.ctx.putImageData(data, 0, 0);
    this.history = [];
    this.cursor = 0;
    this.onChange();
  }

  // ----- strokes -----

  beginStroke(x, y, size, erase) {
    if (!this.backup) this.backup = makeCanvas(this.width, this.height);
    const bctx = this.backup.getContext("2d");
    bctx.globalCompositeOperation = "copy";
    bctx.drawImage(this.canvas, 0, 0);
    this.stroke = { size, erase, last: [x, y], box: [x, y, x, y] };
    this._dab(x, y);
  }

  extendStroke(x, y) {
    const s = this.stroke;
    if (!s) return;
    const ctx = this.ctx;
    ctx.save();
    ctx.globalCompositeOperation = s.erase ? "destination-out" : "source-over";
    ctx.strokeStyle = `rgb(${MASK_RGB.join(",")})`;
    ctx.lineWidth = s.size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(s.last[0], s.last[1]);
    ctx.lineTo(x, y);
    ctx.stroke();
    ctx.restore();
    s.last = [x, y];
    this._grow(x, y);
    this.onChange();
  }

  endStroke() {
    const s = this.stroke;
    if (!s) return;
    this.stroke = null;
    const pad = Math.ceil(s.size / 2) + 2;
    const x0 = Math.max(0, Math.floor(s.box[0] - pad));
    const y0 = Math.max(0, Math.floor(s.box[1] - pad));
    const x1 = Math.min(this.width, Math.ceil(s.box[2] + pad));
    const y1 = Math.min(this.height, Math.ceil(s.box[3] + pad));
    if (x1 <= x0 || y1 <= y0) return;
    this._push(x0, y0, x1 - x0, y1 - y0, this.backup);
  }

  _dab(x, y) {
    const s = this.stroke;
    const ctx = this.ctx;
    ctx.save();
    ctx.globalCompositeOperation = s.erase ? "destination-out" : "source-over";
    ctx.fillStyle = `rgb(${MASK_RGB.join(",")})`;
    ctx.beginPath();
    ctx.arc(x, y, s.size / 2, 0, Math.PI * 2);
    ctx.fill();
    ctx.restore();
    this.onChange();
  }

  _grow(x, y) {
    const b = this.stroke.box;
    b[0] = Math.min(b[0], x);
    b[1] = Math.min(b[1], y);
    b[2] = Math.max(b[2], x);
    b[3] = Math.max(b[3], y);
  }

  // ----- whole-mask edits (each one undoable) -----

  /** Apply `draw(ctx)` to the whole mask as one undo step. */
  edit(draw) {
    if (!this.backup) this.backup = makeCanvas(this.width, this.height);
    const bctx = this.backup.getContext("2d");
    bctx.globalCompositeOperation = "copy";
    bctx.drawImage(this.canvas, 0, 0);
    draw(this.ctx);
    this._push(0, 0, this.width, this.height, this.backup);
    this.onChange();
  }

  clear() {
    this.edit((ctx) => ctx.clearRect(0, 0, this.width, this.height));
  }

  /** Add `binary` (a canvas of any size whose opaque pixels are defect) to the mask: the union. One undo step. */
  unionWith(binary) {
    this.edit((ctx) => {
      ctx.save();
      ctx.globalCompositeOperation = "source-over";
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(binary, 0, 0, this.width, this.height);
      ctx.restore();
    });
  }

  /** Replace the mask by `binary` (a canvas of any size whose opaque pixels are defect), scaled to the image. */
  replaceWith(binary) {
    this.edit((ctx) => {
      ctx.save();
      ctx.clearRect(0, 0, this.width, this.height);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(binary, 0, 0, this.width, this.height);
      ctx.restore();
    });
  }

  // ----- history -----

  _crop(src, x, y, w, h) {
    const c = makeCanvas(w, h);
    const cctx = c.getContext("2d");
    cctx.drawImage(src, x, y, w, h, 0, 0, w, h);
    return c;
  }

  _push(x, y, w, h, beforeSource) {
    const entry = { x, y, w, h, before: this._crop(beforeSource, x, y, w, h), after: this._crop(this.canvas, x, y, w, h) };
    entry.beforeRevision = this.revision;
    entry.afterRevision = this.nextRevision++;
    this.history.length = this.cursor;
    this.history.push(entry);
    let pixels = this.history.reduce((n, e) => n + e.w * e.h, 0);
    while (this.history.length > MAX_HISTORY || (pixels > MAX_HISTORY_PIXELS && this.history.length > 1)) {
      const old = this.history.shift();
      pixels -= old.w * old.h;
    }
    this.cursor = this.history.length;
    this.revision = entry.afterRevision;
  }

  _restore(e, which) {
    this.ctx.clearRect(e.x, e.y, e.w, e.h);
    this.ctx.drawImage(e[which], e.x, e.y);
    this.revision = which === "before" ? e.beforeRevision : e.afterRevision;
    this.onChange();
  }

  get canUndo() {
    return this.cursor > 0;
  }

  get canRedo() {
    return this.cursor < this.history.length;
  }

  undo() {
    if (!this.canUndo) return false;
    this.cursor -= 1;
    this._restore(this.history[this.cursor], "before");
    return true;
  }

  redo() {
    if (!this.canRedo) return false;
    this._restore(this.history[this.cursor], "after");
    this.cursor += 1;
    return true;
  }

  // ----- export -----

  /** The mask as {0,255} values at image resolution and the number of defect pixels. */
  binary() {
    const rgba = this.ctx.getImageData(0, 0, this.width, this.height).data;
    const gray = new Uint8Array(this.width * this.height);
    let area = 0;
    for (let i = 0, j = 3; i < gray.length; i++, j += 4) {
      // Anti-aliased brush edges are partly transparent: half coverage or more counts as defect.
      if (rgba[j] >= 128) {
        gray[i] = 255;
        area++;
      }
    }
    return { gray, area };
  }

  async toPng() {
    const { gray, area } = this.binary();
    return { area, blob: area ? await encodeGrayPng(gray, this.width, this.height) : null };
  }
}
