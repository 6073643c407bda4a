// /projects/{id}/inspect/ — bulk inference in the browser. Dropped images, a folder or a zip go to
// POST /projects/{id}/inference-batches/ (with the chosen version), the batch is polled for a live
// progress bar, and its results are shown as a sortable table or a grid of heatmaps with verdicts, with
// the API's CSV for download. Nothing joins the dataset unless "Add to project" uploads chosen files
// through the normal images API.

import { get, upload } from "./api.js";
import { byTestId, config, disable, h, showError } from "./dom.js";
import { droppedFiles, isZip, usable } from "./drop-files.js";
import { heatThumb, verdictBadge } from "./heat-thumb.js";
import { predictedDefective, scoreText } from "./verdict.js";

const cfg = config();
const pid = cfg.projectId;
const modelSel = byTestId("inspect-model");
const errorEl = byTestId("inspect-error");
const state = { versions: [], batch: null, rows: [], sort: { key: "score", dir: -1 }, view: "table", picked: new Set() };

const threshold = () => state.batch && (state.versions.find((m) => m.id === state.batch.model) || {}).threshold;
const verdict = (r) => (r.score === null || r.score === undefined ? null : predictedDefective(r, threshold()));

async function loadVersions() {
  try {
    state.versions = (await get(`projects/${pid}/models/`, { page_size: 100 })).results;
  } catch (err) {
    showError(errorEl, `Could not load the model versions: ${err.detail || err.message}`);
  }
  modelSel.replaceChildren(
    ...state.versions.map((m) =>
      h("option", { value: m.id, selected: m.is_active }, `v${m.version}${m.is_active ? " (active)" : ""} · threshold ${Number(m.threshold.toFixed(6))}`),
    ),
  );
  const none = !state.versions.length;
  byTestId("inspect-model-note").textContent = none ? "No model yet: train one on the Training tab first." : "";
  modelSel.disabled = none;
  for (const id of ["inspect-input", "inspect-folder"]) disable(byTestId(id), none, "Train a model first.");
}

function setProgress(fraction, text, status) {
  const bar = byTestId("inspect-progress");
  const pct = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  bar.querySelector(".progress-bar").style.width = `${pct}%`;
  bar.setAttribute("aria-valuenow", String(pct));
  byTestId("inspect-progress-text").textContent = text;
  const st = byTestId("inspect-status");
  st.textContent = status;
  st.className = `badge status-${status}`;
  byTestId("inspect-job").dataset.status = status;
}

async function score(all) {
  const files = all.filter(usable);
  const zips = files.filter(isZip);
  const images = files.filter((f) => !isZip(f));
  showError(errorEl, null);
  if (!files.length) return showError(errorEl, "No image or zip among the dropped files.");
  if (zips.length > 1) return showError(errorEl, "One zip at a time, please (or drop its images or folder).");
  const fd = new FormData();
  for (const f of images) fd.append("files", f, f.name);
  if (zips.length) fd.append("archive", zips[0], zips[0].name);
  if (modelSel.value) fd.append("model", modelSel.value);
  byTestId("inspect-job").hidden = false;
  byTestId("inspect-job-title").textContent = `${images.length} image${images.length === 1 ? "" : "s"}${zips.length ? ` + ${zips[0].name}` : ""}`;
  setProgress(0, "uploading…", "queued");
  let batch;
  try {
    ({ data: batch } = await upload(`projects/${pid}/inference-batches/`, fd, (f) => setProgress(f * 0.1, `uploading ${Math.round(f * 100)} %`, "queued")));
  } catch (err) {
    if (err.status === 503 && err.body && err.body.batch) batch = err.body.batch;
    else {
      setProgress(0, "", "failed");
      return showError(errorEl, `Not scored: ${err.detail || err.message}`);
    }
  }
  state.local = images; // results come back in upload order: the first ones are these files
  for (;;) {
    state.batch = batch;
    const f = batch.total ? batch.done / batch.total : 0;
    // `done` counts every file processed, the ones that could not be scored (`failed`) too
    const failed = batch.failed || 0;
    const text = `${batch.done - failed} / ${batch.total} scored${failed ? ` · ${failed} could not be scored` : ""}`;
    setProgress(0.1 + 0.9 * f, text, batch.status);
    if (!["queued", "running"].includes(batch.status)) break;
    await new Promise((r) => setTimeout(r, 700));
    try {
      batch = await get(`inference-batches/${batch.id}/`);
    } catch (err) {
      return showError(errorEl, `Lost track of batch ${batch.id}: ${err.detail || err.message}`);
    }
  }
  if (batch.status !== "succeeded") showError(errorEl, `Batch ${batch.id} ${batch.status}${batch.error ? `: ${batch.error}` : ""}.`);
  await loadResults();
}

async function loadResults() {
  const rows = [];
  for (let page = 1; ; page++) {
    const data = await get(`inference-batches/${state.batch.id}/results/`, { page, page_size: 500 });
    rows.push(...data.results);
    if (!data.next) break;
  }
  const local = state.local || [];
  state.rows = rows.map((r, i) => ({ ...r, index: i, file: local[i] && local[i].name === r.filename ? local[i] : null }));
  state.picked.clear();
  byTestId("inspect-results").hidden = false;
  byTestId("inspect-csv").href = `/api/v1/inference-batches/${state.batch.id}/results/?format=csv`;
  const bad = state.rows.filter((r) => verdict(r) === true).length;
  const failed = state.rows.filter((r) => r.score === null).length;
  const scored = state.rows.length - failed;
  byTestId("inspect-summary").textContent =
    `${scored} scored: ${bad} defective, ${scored - bad} good` + (failed ? ` · ${failed} could not be scored` : "");
  render();
}

function sorted() {
  const { key, dir } = state.sort;
  const val = (r) => (key === "filename" ? r.filename : key === "verdict" ? Number(verdict(r)) : (r.score ?? -Infinity));
  return [...state.rows].sort((a, b) => (val(a) < val(b) ? -dir : val(a) > val(b) ? dir : a.index - b.index));
}

function pickBox(r) {
  const box = h("input", { type: "checkbox", "aria-label": `Choose ${r.filename}`, "data-testid": "inspect-pick", class: "needs-write" });
  box.checked = state.picked.has(r.index);
  const why = r.file ? "" : r.error ? "This file could not be scored." : "Only files dropped or picked one by one can be added (this came from a zip).";
  disable(box, !r.file || !!r.error, why);
  box.addEventListener("change", () => {
    if (box.checked) state.picked.add(r.index);
    else state.picked.delete(r.index);
    renderPicked();
  });
  return box;
}

function render() {
  const rows = sorted();
  const thr = threshold();
  byTestId("inspect-table").querySelector("tbody").replaceChildren(
    ...rows.map((r) =>
      h(
        "tr",
        { "data-testid": "inspect-row", "data-filename": r.filename, "data-score": r.score ?? "", "data-defective": String(verdict(r)) },
        h("td", {}, pickBox(r)),
        h("td", { class: "mono" }, r.filename),
        h("td", { class: "num" }, r.score === null ? "–" : scoreText(r.score, thr)),
        h("td", {}, r.score === null ? "" : verdictBadge(verdict(r))),
        h("td", { class: r.error ? "error small" : "muted small" }, r.error || r.added || ""),
      ),
    ),
  );
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.setAttribute("aria-sort", th.dataset.sort === state.sort.key ? (state.sort.dir > 0 ? "ascending" : "descending") : "none");
  }
  const urls = (state.urls ||= new Map());
  byTestId("inspect-grid").replaceChildren(
    ...rows.map((r) => {
      if (r.file && !urls.has(r.index)) urls.set(r.index, URL.createObjectURL(r.file));
      const li = heatThumb({
        src: urls.get(r.index) || null,
        alt: r.filename,
        heatmapUrl: r.heatmap_url,
        testid: "inspect-tile",
        caption: `${r.filename}${r.score === null ? "" : ` · ${scoreText(r.score, thr)}`}`,
        badges: r.score === null ? [h("span", { class: "badge badge-bad" }, "failed")] : [verdictBadge(verdict(r))],
      });
      li.append(Object.assign(pickBox(r), { className: "heat-pick needs-write" }));
      return li;
    }),
  );
  renderPicked();
}

function renderPicked() {
  const n = state.picked.size;
  const add = byTestId("inspect-add");
  add.textContent = n ? `Add ${n} to project` : "Add to project";
  const addable = state.rows.some((r) => r.file && !r.error);
  const why = addable
    ? "Choose results first (their check boxes); only those are added to the project."
    : state.rows.length
      ? "Only files dropped or picked one by one can be added: these results came from a zip (import the zip on the gallery instead)."
      : "Score some images first.";
  disable(add, n === 0, why);
}

byTestId("inspect-add").addEventListener("click", async () => {
  const chosen = state.rows.filter((r) => state.picked.has(r.index) && r.file);
  const fd = new FormData();
  for (const r of chosen) fd.append("files", r.file, r.file.name);
  const status = byTestId("inspect-add-status");
  try {
    const { data } = await upload(`projects/${pid}/images/`, fd);
    const results = Array.isArray(data) ? data : [];
    chosen.forEach((r, i) => {
      const res = results[i] || {};
      r.added = res.error ? `not added: ${res.error}` : res.duplicate ? "already in the project" : "added to the project";
    });
    const added = results.filter((x) => x && x.id && !x.duplicate).length;
    status.textContent = `${added} added to the project, ${chosen.length - added} not (already there or refused).`;
    status.className = "ok small";
    status.dataset.added = String(added);
  } catch (err) {
    status.textContent = `Not added: ${err.detail || err.message}`;
    status.className = "error small";
  }
  state.picked.clear();
  render();
});

byTestId("inspect-select-all").addEventListener("change", (e) => {
  state.picked = new Set(e.target.checked ? state.rows.filter((r) => r.file && !r.error).map((r) => r.index) : []);
  render();
});
for (const th of document.querySelectorAll("th[data-sort]")) {
  th.addEventListener("click", () => {
    const key = th.dataset.sort;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : key === "filename" ? 1 : -1 };
    render();
  });
}
for (const b of document.querySelectorAll("[data-view]")) {
  b.addEventListener("click", () => {
    state.view = b.dataset.view;
    for (const o of document.querySelectorAll("[data-view]")) o.setAttribute("aria-pressed", String(o === b));
    byTestId("inspect-table-wrap").hidden = state.view !== "table";
    byTestId("inspect-grid").hidden = state.view !== "grid";
  });
}

const drop = byTestId("inspect-drop");
for (const id of ["inspect-input", "inspect-folder"]) {
  const input = byTestId(id);
  input.addEventListener("change", () => score(Array.from(input.files)).finally(() => (input.value = "")));
}
drop.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    byTestId("inspect-input").click();
  }
});
document.body.addEventListener("dragover", (e) => {
  if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
  e.preventDefault();
  drop.classList.add("over");
});
document.body.addEventListener("dragleave", (e) => {
  if (e.target === document.body || e.target === drop) drop.classList.remove("over");
});
document.body.addEventListener("drop", async (e) => {
  if (!e.dataTransfer || !e.dataTransfer.files.length) return;
  e.preventDefault();
  drop.classList.remove("over");
  score(await droppedFiles(e.dataTransfer));
});

loadVersions();
