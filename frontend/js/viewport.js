/** Pan and zoom of a picture on a canvas: the transform from picture pixels to the canvas's CSS pixels.
 *
 * `scale`, `tx`, `ty` map picture (x, y) to screen (x * scale + tx, y * scale + ty); `fitted` says the
 * picture is fitted to the stage, so a resize fits it again. `onChange` runs after every change. */
export class Viewport {
  constructor(canvas, stage, onChange) {
    this.canvas = canvas;
    this.stage = stage;
    this.onChange = onChange;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.fitted = true;
    this.width = 0;
    this.height = 0;
    new ResizeObserver(() => this.resize()).observe(stage);
  }

  /** The picture's size in its own pixels (the image's width and height). */
  setContent(width, height) {
    this.width = width;
    this.height = height;
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const r = this.stage.getBoundingClientRect();
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.canvas.style.width = `${r.width}px`;
    this.canvas.style.height = `${r.height}px`;
    if (this.fitted) this.fit();
    this.onChange();
  }

  fit() {
    if (!this.width) return;
    const r = this.stage.getBoundingClientRect();
    const s = Math.min(r.width / this.width, r.height / this.height) * 0.98;
    this.scale = s;
    this.tx = (r.width - this.width * s) / 2;
    this.ty = (r.height - this.height * s) / 2;
    this.fitted = true;
    this.onChange();
  }

  /** Zoom by `factor` keeping the screen point (sx, sy) where it is. */
  zoomAt(factor, sx, sy) {
    const s = Math.min(64, Math.max(0.01, this.scale * factor));
    const f = s / this.scale;
    this.tx = sx - (sx - this.tx) * f;
    this.ty = sy - (sy - this.ty) * f;
    this.scale = s;
    this.fitted = false;
    this.onChange();
  }

  /** One picture pixel per CSS pixel, keeping the stage's middle in place. */
  oneToOne() {
    const r = this.stage.getBoundingClientRect();
    this.zoomAt(1 / this.scale, r.width / 2, r.height / 2);
  }

  panTo(tx, ty) {
    this.tx = tx;
    this.ty = ty;
    this.fitted = false;
    this.onChange();
  }

  /** [picture x, picture y, screen x, screen y] of a pointer event. */
  toImage(e) {
    const r = this.canvas.getBoundingClientRect();
    const sx = e.clientX - r.left;
    const sy = e.clientY - r.top;
    return [(sx - this.tx) / this.scale, (sy - this.ty) / this.scale, sx, sy];
  }
}
