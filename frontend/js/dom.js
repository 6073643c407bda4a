// Small DOM helpers shared by the pages.

export function config() {
  const el = document.getElementById("page-config");
  return el ? JSON.parse(el.textContent) : {};
}

export const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/** h("div", {class: "x", onclick: fn}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Show an error message in `el` (a `[role=alert]` paragraph next to the control that caused it). */
export function showError(el, err) {
  if (!el) return;
  if (!err) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.textContent = typeof err === "string" ? err : err.detail || err.message || String(err);
  el.hidden = false;
}

export function toast(message, kind = "info", ms = 3500) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const t = h("div", { class: `toast toast-${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

export const fmt = {
  score: (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3)),
  metric: (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3)),
  pct: (v) => `${Math.round((v || 0) * 100)} %`,
  date: (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–"),
  /** "1 mask", "3 masks" */
  count: (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`,
  bytes: (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(0)} kB` : `${(n / 1048576).toFixed(1)} MB`),
  /**
   * 45 -> "45 s", 200 -> "3 min", 4000 -> "1 h 6 min". Whole minutes round down (a job that ran 91 s ran "1 min",
   * not "2 min"); `up` rounds them up, for what is still to come (an estimate never under-promises).
   */
  duration: (s, up = false) => {
    const secs = Math.round(s || 0);
    if (secs < 90) return `${secs} s`;
    const mins = up ? Math.ceil(secs / 60) : Math.floor(secs / 60);
    return mins < 60 ? `${mins} min` : `${Math.floor(mins / 60)} h ${mins % 60} min`;
  },
};

/** True when a key event comes from a text field, where letters must type rather than act as shortcuts. */
export function isTyping(e) {
  const t = e.target;
  if (!t || !t.tagName) return false;
  if (t.isContentEditable) return true;
  if (t.tagName === "TEXTAREA") return true;
  if (t.tagName === "SELECT") return true;
  if (t.tagName === "INPUT") return !["checkbox", "radio", "range", "button", "submit"].includes(t.type);
  return false;
}

/**
 * Disable or enable a control; a disabled one says why in its tooltip (`title`), an enabled one gets its
 * own tooltip back. Every page uses this, so no button is ever greyed out without a reason.
 */
export function disable(el, off, why) {
  if (!el) return;
  if (!("titleEnabled" in el.dataset)) el.dataset.titleEnabled = el.getAttribute("title") || "";
  el.disabled = !!off;
  if (off && why) el.title = why;
  else if (el.dataset.titleEnabled) el.title = el.dataset.titleEnabled;
  else el.removeAttribute("title");
}

/** An <img> with `src` decoded; rejects when the browser cannot decode the file (TIFF in most browsers). */
export function loadPixels(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.decoding = "async";
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot decode this file"));
    img.src = src;
  });
}
