// /projects/{id}/models/ — model versions with their metrics, the per-defect-type table, export (ONNX,
// torch, with the file's size), a comparison of two versions (models-compare.js) and the active model's
// mistakes on the test split (models-mistakes.js).

import { get } from "./api.js";
import { byTestId, config, fmt, h, showError } from "./dom.js";
import { initCompare } from "./models-compare.js";
import { loadMistakes } from "./models-mistakes.js";
import { f1Content } from "./training-models.js";

const cfg = config();
const pid = cfg.projectId;
export const METRICS = [
  ["image_auroc", "Image AUROC"],
  ["image_ap", "AP"],
  ["pixel_auroc", "Pixel AUROC"],
  ["aupro", "AUPRO"],
  ["f1", "F1"],
  ["precision", "Precision"],
  ["recall", "Recall"],
];
const FORMATS = [
  ["onnx", "ONNX", ".onnx"],
  ["torch", "torch", ".pt"],
];

/** Fetch the export, then save it under its own name; the button row then shows the file's size. */
async function exportModel(m, format, ext, status, button) {
  button.disabled = true;
  status.textContent = `preparing ${format}…`;
  status.className = "muted small";
  try {
    const res = await fetch(`/api/v1/models/${m.id}/export/?format=${format}`, { credentials: "same-origin" });
    if (!res.ok) {
      let detail = `export failed (${res.status})`;
      try {
        detail = (await res.json()).detail || detail;
      } catch {
        // not JSON: keep the status line
      }
      throw new Error(detail);
    }
    const blob = await res.blob();
    const name = (res.headers.get("Content-Disposition") || "").match(/filename="?([^";]+)"?/)?.[1] || `project-${pid}-v${m.version}${ext}`;
    const a = h("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
    document.body.append(a);
    a.click();
    setTimeout(() => {
      URL.revokeObjectURL(a.href);
      a.remove();
    }, 1000);
    status.textContent = `${name} · ${fmt.bytes(blob.size)}`;
    status.dataset.size = String(blob.size);
    status.className = "ok small";
    button.textContent = `${button.dataset.label} · ${fmt.bytes(blob.size)}`;
  } catch (err) {
    status.textContent = err.message;
    status.className = "error small";
  } finally {
    button.disabled = false;
  }
}

function versionRow(m) {
  const mt = m.metrics || {};
  const status = h("span", { class: "muted small", "data-testid": "export-status", role: "status" });
  const buttons = FORMATS.map(([format, label, ext]) => {
    const b = h(
      "button",
      {
        type: "button",
        class: "btn btn-quiet",
        "data-testid": `export-${format}`,
        "data-label": label,
        title: `Download version ${m.version} as ${label} (${ext})`,
      },
      label,
    );
    b.addEventListener("click", () => exportModel(m, format, ext, status, b));
    return b;
  });
  return h(
    "tr",
    { class: m.is_active ? "active" : "", "data-testid": "version-row", "data-version": m.version, "data-id": m.id },
    h("td", {}, h("strong", {}, `v${m.version}`), m.is_active ? h("span", { class: "badge badge-good" }, " active") : null),
    h("td", { class: "small" }, fmt.date(m.created_at)),
    h("td", {}, m.mode),
    h("td", { class: "num" }, String(Number(Number(m.threshold).toFixed(6)))),
    ...METRICS.map(([k]) => h("td", { class: "num", "data-metric": k }, ...(k === "f1" ? f1Content(mt) : [fmt.metric(mt[k])]))),
    h("td", {}, h("div", { class: "row tight" }, ...buttons), status),
  );
}

function perTypeRow(type, t, label) {
  return h(
    "tr",
    { "data-testid": "per-type-row", "data-type": type },
    h("td", {}, label),
    h("td", { class: "num" }, String(t.count ?? "–")),
    h("td", { class: "num" }, fmt.metric(t.recall)),
    h("td", { class: "num" }, fmt.metric(t.image_auroc)),
  );
}

function perTypeTable(m) {
  const body = byTestId("per-type-table").querySelector("tbody");
  const empty = byTestId("per-type-empty");
  const types = (m && m.metrics && m.metrics.per_defect_type) || null;
  const untyped = (m && m.metrics && m.metrics.untyped_defects) || null;
  const entries = types ? Object.entries(types).sort((a, b) => a[0].localeCompare(b[0])) : [];
  // The defective test images without a type get a row of their own, so the counts add up to the test split's.
  const rows = entries.map(([type, t]) => perTypeRow(type, t, h("span", { class: "badge badge-type" }, type)));
  if (entries.length && untyped) rows.push(perTypeRow("", untyped, h("em", { class: "muted" }, "no type")));
  body.replaceChildren(...rows);
  empty.hidden = entries.length > 0;
  empty.textContent = !m
    ? ""
    : types === null
      ? `Version ${m.version} was trained before per-type metrics were measured.`
      : "The test split's defective images have no defect type.";
}

function versionOptions(select, versions, selectedId) {
  select.replaceChildren(
    ...versions.map((m) => h("option", { value: m.id, selected: m.id === selectedId }, `v${m.version}${m.is_active ? " (active)" : ""}`)),
  );
}

async function boot() {
  let versions = [];
  try {
    const data = await get(`projects/${pid}/models/`, { page_size: 100 });
    versions = data.results;
  } catch (err) {
    showError(byTestId("models-error"), `Could not load the versions: ${err.detail || err.message}`);
  }
  byTestId("versions-table").querySelector("tbody").replaceChildren(...versions.map(versionRow));
  byTestId("no-models").hidden = versions.length > 0;
  const active = versions.find((m) => m.is_active) || versions[0] || null;
  const typesSel = byTestId("types-version");
  versionOptions(typesSel, versions, active && active.id);
  perTypeTable(active);
  typesSel.addEventListener("change", () => perTypeTable(versions.find((m) => m.id === Number(typesSel.value))));
  initCompare({ cfg, versions, versionOptions, metrics: METRICS });
  loadMistakes({ cfg, active: versions.find((m) => m.is_active) || null });
}

boot();
