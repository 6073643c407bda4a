// Heatmap overlay: the 8-bit anomaly map (0..255 = sigmoid 0..1) is coloured in JS with a fixed
// colour map; pixels under the threshold are transparent, so the slider redraws live without a request.

const DISPLAY_MAX_SIDE = 1600; // the coloured overlay is drawn at most this large; the viewer scales it up

// Anchors of a perceptually ordered "inferno"-like map, interpolated to 256 entries.
const ANCHORS = [
  [0, [0, 0, 4]],
  [0.15, [31, 12, 72]],
  [0.3, [85, 15, 109]],
  [0.45, [136, 34, 106]],
  [0.6, [186, 54, 85]],
  [0.72, [227, 89, 51]],
  [0.85, [249, 140, 10]],
  [0.95, [249, 201, 50]],
  [1, [252, 255, 164]],
];

export const LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < ANCHORS.length - 2 && t > ANCHORS[k + 1][0]) k++;
    const [t0, c0] = ANCHORS[k];
    const [t1, c1] = ANCHORS[k + 1];
    const f = Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    for (let j = 0; j < 3; j++) lut[i * 3 + j] = c0[j] + (c1[j] - c0[j]) * f;
  }
  return lut;
})();

function readValues(bmp, w, h) {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const v = new Uint8Array(w * h);
  for (let i = 0, j = 0; i < v.length; i++, j += 4) v[i] = rgba[j];
  return v;
}

export class Heatmap {
  /** Decode a heatmap PNG blob. */
  static async fromBlob(blob) {
    const bmp = await createImageBitmap(blob);
    return new Heatmap(bmp);
  }

  constructor(bmp) {
    this.width = bmp.width;
    this.height = bmp.height;
    this.values = readValues(bmp, this.width, this.height);
    const s = Math.min(1, DISPLAY_MAX_SIDE / Math.max(this.width, this.height));
    this.dw = Math.max(1, Math.round(this.width * s));
    this.dh = Math.max(1, Math.round(this.height * s));
    this.displayValues = s === 1 ? this.values : readValues(bmp, this.dw, this.dh);
    this.canvas = document.createElement("canvas");
    this.canvas.width = this.dw;
    this.canvas.height = this.dh;
    this.ctx = this.canvas.getContext("2d");
    this.image = this.ctx.createImageData(this.dw, this.dh);
    bmp.close && bmp.close();
  }

  /** Redraw the coloured overlay with pixels >= threshold (0..1) visible. */
  render(threshold) {
    const cut = Math.round(threshold * 255);
    const px = this.image.data;
    const v = this.displayValues;
    for (let i = 0, j = 0; i < v.length; i++, j += 4) {
      const x = v[i];
      const k = x * 3;
      px[j] = LUT[k];
      px[j + 1] = LUT[k + 1];
      px[j + 2] = LUT[k + 2];
      px[j + 3] = x >= cut ? 255 : 0;
    }
    this.ctx.putImageData(this.image, 0, 0);
    return this.canvas;
  }

  /** A canvas at the map's full resolution whose opaque pixels are those >= threshold. */
  binary(threshold, rgb) {
    const cut = Math.round(threshold * 255);
    const c = document.createElement("canvas");
    c.width = this.width;
    c.height = this.height;
    const ctx = c.getContext("2d");
    const img = ctx.createImageData(this.width, this.height);
    const px = img.data;
    let n = 0;
    for (let i = 0, j = 0; i < this.values.length; i++, j += 4) {
      if (this.values[i] >= cut) {
        px[j] = rgb[0];
        px[j + 1] = rgb[1];
        px[j + 2] = rgb[2];
        px[j + 3] = 255;
        n++;
      }
    }
    ctx.putImageData(img, 0, 0);
    return { canvas: c, count: n };
  }
}
