// Gallery upload: drop files anywhere on the page (or pick them); images go in requests of up to 4
// files / 16 MB, two at a time, zips to the import API. Progress and each file's result show in the
// upload dock over the grid, where the files were dropped (docs/ui.md, "Gallery").
import { get, upload } from "./api.js";
import { byTestId, fmt, h } from "./dom.js";


const uploadList = byTestId("upload-list");
const dock = byTestId("upload-dock");
let pid = null;
let onDone = () => {};
const IMAGE_CHUNK_FILES = 4;
const IMAGE_CHUNK_BYTES = 16 * 1024 * 1024;
const PARALLEL = 2;

function uploadRow(file) {
  const bar = h("div", { class: "progress-bar" });
  const status = h("span", { class: "upload-status muted" }, "waiting");
  const row = h(
    "li",
    { class: "upload-row", "data-testid": "upload-row", "data-name": file.name },
    h("span", { class: "upload-name", title: file.name }, file.name),
    h("span", { class: "muted small" }, fmt.bytes(file.size)),
    h("div", { class: "progress small" }, bar),
    status,
  );
  uploadList.prepend(row);
  dock.hidden = false;
  byTestId("upload-summary").textContent = `${uploadList.children.length} file${uploadList.children.length === 1 ? "" : "s"}`;
  return {
    progress(f) {
      bar.style.width = `${Math.round(f * 100)}%`;
      status.textContent = f >= 1 ? "processing…" : `${Math.round(f * 100)} %`;
    },
    setReport(job) {
      for (const k of ["created", "duplicates", "updated", "kept"]) row.dataset[k] = String(job[k] ?? 0);
    },
    done(text, kind = "ok", title = "") {
      bar.style.width = "100%";
      row.dataset.state = kind;
      status.textContent = text;
      status.title = title;
      status.className = `upload-status ${{ error: "error", ok: "ok", warn: "warn" }[kind] || "muted"}`;
    },
  };
}

function chunk(files) {
  const out = [];
  let cur = [];
  let bytes = 0;
  for (const f of files) {
    if (cur.length && (cur.length >= IMAGE_CHUNK_FILES || bytes + f.size > IMAGE_CHUNK_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += f.size;
  }
  if (cur.length) out.push(cur);
  return out;
}

function showResult(row, r) {
  if (!r) row.done("uploaded");
  else if (r.error) row.done(r.error, "error");
  else if (r.duplicate) row.done("already in the project", "dup");
  else row.done("uploaded");
}

async function sendImages(group) {
  const fd = new FormData();
  for (const { file } of group) fd.append("files", file, file.name);
  try {
    const { data } = await upload(`projects/${pid}/images/`, fd, (f) => group.forEach(({ row }) => row.progress(f)));
    const results = Array.isArray(data) ? data : [];
    // One answer per file, in the order sent: a stored image, a duplicate, or {filename, status, error}.
    group.forEach(({ row }, i) => showResult(row, results[i]));
  } catch (err) {
    const errors = (err.body && Array.isArray(err.body.errors) && err.body.errors) || null;
    group.forEach(({ row, file }, i) => {
      const e = errors && (errors.find((x) => x.filename === file.name) || errors[i]);
      row.done(e ? e.error : err.detail || err.message, "error");
    });
  }
}

async function sendZip(file) {
  const row = uploadRow(file);
  const fd = new FormData();
  fd.append("archive", file, file.name);
  let job;
  try {
    ({ data: job } = await upload(`projects/${pid}/imports/`, fd, (f) => row.progress(f)));
  } catch (err) {
    row.done(err.detail || err.message, "error");
    return;
  }
  for (;;) {
    const created = job.created ?? 0;
    row.progress(1);
    row.done(`importing ${fmt.pct(job.progress)} · ${created} new`, "busy");
    if (!["queued", "running"].includes(job.status)) break;
    await new Promise((r) => setTimeout(r, 1000));
    try {
      job = await get(`imports/${job.id}/`);
    } catch (err) {
      row.done(`Import status unavailable: ${err.detail || err.message}`, "error");
      return;
    }
  }
  const skipped = Array.isArray(job.skipped) ? job.skipped.length : job.skipped || 0;
  const errors = Array.isArray(job.errors) ? job.errors : [];
  if (job.status === "failed") {
    row.done(`import failed: ${job.error || (errors[0] && errors[0].reason) || "unknown reason"}`, "error");
  } else {
    const created = job.created ?? 0;
    const known = importKnownText(job);
    row.setReport(job);
    // every skipped entry and its reason in the tooltip, the first one in the line
    const skips = Array.isArray(job.skipped) ? job.skipped : [];
    const why = skips.length ? `, e.g. ${skips[0].name}: ${skips[0].reason}` : "";
    const list = skips.slice(0, 30).map((x) => `${x.name}: ${x.reason}`).join("\n");
    if (errors.length) {
      const first = errors[0];
      row.done(`imported ${created}${known}; ${errors.length} failed, e.g. ${first.name}: ${first.reason}`, "error", list);
    } else if (!created && !job.duplicates) {
      row.done(
        `nothing imported: ${skipped} skipped${why}. The archive holds no PNG, JPEG, BMP or TIFF image ` +
          "(MVTec AD folders, plain folders and a manifest.csv all work).",
        "warn",
        list,
      );
    } else {
      row.done(`imported ${created} image(s)${known}${skipped ? `, ${skipped} skipped${why}` : ""}`, "ok", list);
    }
  }
}

/** What a (re-)import did with images the project already had (same bytes). */
function importKnownText(job) {
  const dups = job.duplicates || 0;
  if (!dups) return "";
  const updated = job.updated || 0;
  const kept = job.kept || 0;
  return `; ${dups} already in the project: ${updated} updated from the archive, ${kept} kept as a person set them`;
}

async function handleFiles(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  const zips = files.filter((f) => /\.zip$/i.test(f.name) || f.type === "application/zip");
  const images = files.filter((f) => !zips.includes(f)).map((file) => ({ file, row: uploadRow(file) }));
  const groups = chunk(images.map((i) => i.file)).map((g) => g.map((f) => images.find((i) => i.file === f)));
  let next = 0;
  const worker = async () => {
    while (next < groups.length) await sendImages(groups[next++]);
  };
  await Promise.all([...Array.from({ length: Math.min(PARALLEL, groups.length) }, worker), ...zips.map(sendZip)]);
  await onDone();
}

/** Wire the drop zone, the file picker and the page-wide drop target. `done()` refreshes the page after a batch. */
export function initUpload(projectId, done) {
  pid = projectId;
  onDone = done;
  byTestId("upload-dock-close").addEventListener("click", () => {
    dock.hidden = true;
    uploadList.replaceChildren();
  });
  const drop = byTestId("dropzone");
  const input = byTestId("upload-input");
  input.addEventListener("change", () => {
    handleFiles(input.files).finally(() => {
      input.value = "";
    });
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  for (const t of [drop, document.body]) {
    t.addEventListener("dragover", (e) => {
      if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
      e.preventDefault();
      drop.classList.add("over");
    });
  }
  document.body.addEventListener("dragleave", (e) => {
    if (e.target === document.body || e.target === drop) drop.classList.remove("over");
  });
  document.body.addEventListener("drop", (e) => {
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    drop.classList.remove("over");
    handleFiles(e.dataTransfer.files);
  });
}
