// /projects/{id}/ — thumbnails with badges, filters, paging, upload, bulk curation.
import { api, get } from "./api.js";
import { byTestId, config, disable, fmt, h, isTyping, showError, toast } from "./dom.js";
import { labellerHref, FILTER_KEYS } from "./nav.js";
import { predictedDefective, scoreText } from "./verdict.js";
import { fillDefectTypeFilter } from "./defect-type.js";
import { loadJob } from "./gallery-job.js";
import { initUpload } from "./gallery-upload.js";

const cfg = config();
const pid = cfg.projectId;
const grid = byTestId("gallery-grid");
const filtersForm = document.getElementById("filters");
const galleryError = byTestId("gallery-error");
const bulkError = byTestId("bulk-error");
const pageSizeSel = byTestId("page-size");

const state = {
  filters: {},
  page: 1,
  pageSize: 120,
  count: 0,
  items: [],
  selected: new Set(),
  allMatching: false, // "select all matching the filter": the selection is the filter, not a list of ids
  anchor: null, // index on the page of the last plain click, for shift-click ranges
  loading: null,
  threshold: null, // the active model's, once the project header has loaded it (verdict.js applies the rule)
};

// ---------- filters and URL ----------

function readUrl() {
  const q = new URLSearchParams(window.location.search);
  for (const k of FILTER_KEYS) state.filters[k] = q.get(k) || "";
  state.page = Math.max(1, parseInt(q.get("page") || "1", 10) || 1);
  const size = parseInt(q.get("page_size") || "120", 10);
  state.pageSize = [60, 120, 240, 500].includes(size) ? size : 120;
  for (const k of FILTER_KEYS) if (filtersForm.elements[k]) filtersForm.elements[k].value = state.filters[k];
  pageSizeSel.value = String(state.pageSize);
}

function writeUrl() {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (state.filters[k]) q.set(k, state.filters[k]);
  if (state.page > 1) q.set("page", state.page);
  if (state.pageSize !== 120) q.set("page_size", state.pageSize);
  const qs = q.toString();
  const next = `${window.location.pathname}${qs ? `?${qs}` : ""}`;
  // A changed filter, page or page size is a step Back can undo; a refresh of the same view adds none.
  if (next !== `${window.location.pathname}${window.location.search}`) history.pushState(null, "", next);
}

// Back / Forward between filter states: show the one the URL names now.
window.addEventListener("popstate", () => {
  readUrl();
  clearSelection();
  loadDefectTypes();
  loadPage();
});

function apiFilters() {
  const out = {};
  for (const k of FILTER_KEYS) if (state.filters[k]) out[k] = state.filters[k];
  return out;
}

filtersForm.addEventListener("change", () => {
  for (const k of FILTER_KEYS) state.filters[k] = filtersForm.elements[k] ? filtersForm.elements[k].value : "";
  state.page = 1;
  clearSelection();
  loadPage();
});
filtersForm.addEventListener("submit", (e) => e.preventDefault());
pageSizeSel.addEventListener("change", () => {
  state.pageSize = parseInt(pageSizeSel.value, 10);
  state.page = 1;
  loadPage();
});

const loadDefectTypes = () => fillDefectTypeFilter(filtersForm.elements.defect_type, pid, state.filters.defect_type);

// ---------- grid ----------

const LABEL_TEXT = { good: "Good", defective: "Defective", unlabeled: "Unlabeled" };

function tile(img, index) {
  const pos = (state.page - 1) * state.pageSize + index + 1;
  const pred = img.prediction;
  const selected = state.allMatching || state.selected.has(img.id);
  const box = h("input", {
    type: "checkbox",
    class: "tile-check",
    "aria-label": `Select ${img.filename}`,
    "data-testid": "tile-check",
  });
  box.checked = selected;
  box.addEventListener("click", (e) => onSelectClick(e, index));
  return h(
    "li",
    {
      class: `tile label-${img.label}${selected ? " selected" : ""}`,
      "data-testid": "tile",
      "data-id": img.id,
      "data-label": img.label,
    },
    box,
    h(
      "a",
      {
        href: labellerHref(cfg, img.id, state.filters, pos),
        class: "tile-link",
        title: img.filename,
        onclick: (e) => {
          if (e.shiftKey || e.ctrlKey || e.metaKey) {
            e.preventDefault();
            onSelectClick(e, index);
          }
        },
      },
      h("img", { src: img.thumbnail_url, alt: img.filename, loading: "lazy", decoding: "async", width: 160, height: 160 }),
    ),
    h(
      "div",
      { class: "tile-badges" },
      h("span", { class: `badge badge-${img.label}`, "data-testid": "label-badge" }, LABEL_TEXT[img.label] || img.label),
      img.has_mask ? h("span", { class: "badge badge-mask", title: "Has a defect mask", "data-testid": "mask-badge" }, "mask") : null,
      img.split === "test" ? h("span", { class: "badge badge-split", title: "Test split" }, "test") : null,
      img.defect_type
        ? h("span", { class: "badge badge-type", title: "Defect type", "data-testid": "defect-type-badge" }, img.defect_type)
        : null,
      pred && pred.score !== undefined && pred.score !== null
        ? h(
            "span",
            {
              class: `badge badge-score${predictedDefective(pred, state.threshold) ? " hot" : ""}`,
              title: `Score of the active model${predictedDefective(pred, state.threshold) ? " (at or above its threshold: predicted defective)" : ""}`,
              "data-testid": "score-badge",
              "data-defective": String(predictedDefective(pred, state.threshold)),
            },
            scoreText(pred.score, state.threshold),
          )
        : null,
    ),
    h("div", { class: "tile-name", title: img.filename }, img.filename),
  );
}

function render() {
  grid.replaceChildren(...state.items.map(tile));
  byTestId("gallery-empty").hidden = state.items.length > 0;
  // An empty project (not an empty filter): the first thing to do is upload, so say how right here.
  const filtered = Object.keys(apiFilters()).some((k) => k !== "ordering");
  byTestId("gallery-empty-text").textContent = filtered ? "No images match these filters." : "No images yet.";
  byTestId("gallery-empty-upload").hidden = filtered;
  const pages = Math.max(1, Math.ceil(state.count / state.pageSize));
  byTestId("page-info").textContent = `Page ${state.page} of ${pages}`;
  disable(byTestId("prev-page"), state.page <= 1, "This is the first page.");
  disable(byTestId("next-page"), state.page >= pages, "This is the last page.");
  byTestId("result-count").textContent = `${state.count.toLocaleString()} matching`;
  renderSelection();
}

async function loadPage() {
  writeUrl();
  if (state.loading) state.loading.abort();
  const ctrl = new AbortController();
  state.loading = ctrl;
  grid.setAttribute("aria-busy", "true");
  try {
    const data = await get(
      `projects/${pid}/images/`,
      { ...apiFilters(), page: state.page, page_size: state.pageSize },
      { signal: ctrl.signal },
    );
    state.items = data.results;
    state.count = data.count;
    showError(galleryError, null);
    render();
  } catch (err) {
    if (err.name === "AbortError") return;
    if (err.status === 404 && state.page > 1) {
      // The page vanished (images deleted or filter narrowed): go to the last page that exists.
      state.page = 1;
      loadPage();
      return;
    }
    showError(galleryError, `Could not load images: ${err.detail || err.message}`);
  } finally {
    if (state.loading === ctrl) {
      state.loading = null;
      grid.removeAttribute("aria-busy");
    }
  }
}

/** After images left the list (deleted, or no longer matching), stay on a page that still exists. */
async function clampPage() {
  if (state.page === 1) return;
  try {
    const data = await get(`projects/${pid}/images/`, { ...apiFilters(), page_size: 1 });
    state.page = Math.min(state.page, Math.max(1, Math.ceil(data.count / state.pageSize)));
  } catch {
    state.page = 1;
  }
}

document.querySelector('[data-action="prev-page"]').addEventListener("click", () => {
  state.page = Math.max(1, state.page - 1);
  loadPage();
});
document.querySelector('[data-action="next-page"]').addEventListener("click", () => {
  state.page += 1;
  loadPage();
});

// ---------- selection ----------

function selectionSize() {
  return state.allMatching ? state.count : state.selected.size;
}

function renderSelection() {
  const n = selectionSize();
  byTestId("selection-count").textContent = n
    ? `${n.toLocaleString()} selected${state.allMatching ? " (all matching the filter)" : ""}`
    : "Nothing selected";
  for (const el of ["bulk-label", "bulk-split", "bulk-delete"]) {
    disable(byTestId(el), n === 0, "Select images first (click a tile's checkbox, or Select page).");
  }
  for (const li of grid.children) {
    const on = state.allMatching || state.selected.has(Number(li.dataset.id));
    li.classList.toggle("selected", on);
    const box = li.querySelector(".tile-check");
    if (box) box.checked = on;
  }
}

function onSelectClick(e, index) {
  const id = state.items[index].id;
  if (state.allMatching) {
    // Leaving "all matching" keeps what is on screen selected, minus the one clicked.
    state.allMatching = false;
    state.selected = new Set(state.items.map((i) => i.id));
  }
  if (e.shiftKey && state.anchor !== null) {
    const [a, b] = [Math.min(state.anchor, index), Math.max(state.anchor, index)];
    for (let i = a; i <= b; i++) state.selected.add(state.items[i].id);
  } else if (state.selected.has(id)) {
    state.selected.delete(id);
    state.anchor = index;
  } else {
    state.selected.add(id);
    state.anchor = index;
  }
  renderSelection();
}

function clearSelection() {
  state.selected.clear();
  state.allMatching = false;
  state.anchor = null;
  renderSelection();
}

document.querySelector('[data-action="select-page"]').addEventListener("click", () => {
  state.allMatching = false;
  for (const i of state.items) state.selected.add(i.id);
  renderSelection();
});
document.querySelector('[data-action="select-matching"]').addEventListener("click", () => {
  state.allMatching = true;
  renderSelection();
});
document.querySelector('[data-action="clear-selection"]').addEventListener("click", clearSelection);

// ---------- bulk actions ----------

/**
 * One request for the whole selection: POST images/bulk/ with the ids (or the filter when
 * "all matching" is on, so 10,000 images need no id list).
 */
async function bulk(action, value) {
  const n = selectionSize();
  if (!n) return;
  if (action === "delete" && !window.confirm(`Delete ${n.toLocaleString()} image${n === 1 ? "" : "s"}? This cannot be undone.`)) return;
  showError(bulkError, null);
  const body = { action };
  if (value) body.value = value;
  try {
    if (state.allMatching) {
      // The filter, not 10,000 ids; ordering does not select anything.
      const { ordering, ...filter } = apiFilters();
      body.filter = filter;
    } else {
      body.ids = Array.from(state.selected);
    }
    const res = await api("POST", `projects/${pid}/images/bulk/`, { json: body });
    const done = res && res.affected;
    toast(`${action === "delete" ? "Deleted" : "Updated"} ${(done ?? n).toLocaleString()} image${(done ?? n) === 1 ? "" : "s"}.`);
    clearSelection();
  } catch (err) {
    showError(bulkError, `${action === "delete" ? "Delete" : "Update"} failed: ${err.detail || err.message}`);
  }
  byTestId("bulk-label").value = "";
  byTestId("bulk-split").value = "";
  await clampPage();
  await Promise.all([loadPage(), loadProject(), refreshJob(), loadDefectTypes()]);
}

byTestId("bulk-label").addEventListener("change", (e) => e.target.value && bulk("label", e.target.value));
byTestId("bulk-split").addEventListener("change", (e) => e.target.value && bulk("split", e.target.value));
byTestId("bulk-delete").addEventListener("click", () => bulk("delete"));

// ---------- project status: counts, active model, running job ----------


async function loadProject() {
  try {
    const p = await get(`projects/${pid}/`);
    for (const [k, v] of Object.entries(p.counts || {})) {
      const dd = document.querySelector(`[data-count="${k}"]`);
      if (dd) dd.textContent = Number(v).toLocaleString();
    }
    const el = byTestId("active-model");
    const m = p.active_model;
    // Scores exist only with an active model: without one, sorting by score means nothing.
    for (const o of filtersForm.elements.ordering.options) if (o.value.includes("score")) o.disabled = m === null;
    filtersForm.elements.predicted.disabled = m === null;
    if (m === null || m === undefined) {
      el.textContent = "No model yet. Label some good images and train.";
      state.threshold = null;
    } else {
      const model = typeof m === "object" ? m : await get(`models/${m}/`);
      if (state.threshold !== model.threshold) {
        state.threshold = model.threshold;
        // Badges follow the current threshold, with the digits that tell a score from it.
        if (state.items.length) grid.replaceChildren(...state.items.map(tile));
      }
      el.replaceChildren(
        h("strong", {}, `v${model.version}`),
        ` ${model.mode || ""} · threshold ${fmt.score(model.threshold)}`,
        model.metrics && model.metrics.image_auroc !== null && model.metrics.image_auroc !== undefined
          ? ` · AUROC ${fmt.metric(model.metrics.image_auroc)}`
          : "",
      );
      el.classList.remove("muted");
    }
  } catch (err) {
    byTestId("active-model").textContent = `Could not load the project: ${err.detail || err.message}`;
  }
}

byTestId("empty-choose-files").addEventListener("click", () => byTestId("upload-input").click());

// ---------- keyboard ----------

document.addEventListener("keydown", (e) => {
  if (isTyping(e)) return;
  if (e.key === "Escape") clearSelection();
  else if (e.key === "a" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    for (const i of state.items) state.selected.add(i.id);
    renderSelection();
  }
});

// A defect type from the URL is selectable before the project's list arrives (readUrl sets the select).
const urlDefectType = new URLSearchParams(window.location.search).get("defect_type");
if (urlDefectType) filtersForm.elements.defect_type.append(new Option(urlDefectType, urlDefectType));
const refreshView = () => Promise.all([loadProject(), loadPage()]);
// Another tab or person may activate a version or move its threshold: the next status poll (every 10 s) sees
// it, and the badges, verdicts and counts follow without a reload; a tab shown again asks at once. Only a
// changed model reloads the page of images.
let shownModel = undefined;
function followActiveModel(st) {
  const m = st.active_model;
  const now = m ? `${m.id}@${m.threshold}` : null;
  if (shownModel !== undefined && now !== shownModel) refreshView();
  shownModel = now;
}
const refreshJob = () => loadJob(cfg, refreshView, followActiveModel);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshJob();
});
initUpload(pid, () => Promise.all([refreshView(), loadDefectTypes()]));
readUrl();
loadPage();
loadProject();
refreshJob();
loadDefectTypes();

