// /projects/{id}/training/ — one-click training with live progress, loss chart and cancel; automatic
// retraining settings; model versions with metrics, score histogram, ROC/PR curves, threshold and activation.

import { get, post } from "./api.js";
import { byTestId, config, disable, fmt, h, showError, toast } from "./dom.js";
import { lineChart } from "./charts.js";
import { modelRow, showCurves } from "./training-models.js";
import { modelSettings, saveSettings } from "./training-settings.js";
import { describeChanges, describeCounts, describeRun, isUnchanged } from "./snapshot.js";

const cfg = config();
const pid = cfg.projectId;
const ACTIVE = ["queued", "running"];
// What a running job is doing, in words (the job's `phase`).
const PHASES = {
  prepare: "preparing the images",
  features: "extracting backbone features",
  train: "training",
  evaluate: "evaluating on the test split",
  store: "scoring the test split with the stored model",
};

const form = document.getElementById("train-form");
const trainError = byTestId("train-error");
const jobBox = byTestId("job");
const jobError = byTestId("job-error");
const settingsError = byTestId("settings-error");

let job = null;
let pollTimer = null;
let models = [];
let shownModelId = null;
let project = null;
let policy = null; // GET training-status: the retrain policy's state and reason, the pending snapshot
let submitting = false;
let modelsLoaded = false;
let cancelError = null; // why the last Cancel failed, shown until the next one

// ---------- snapshots (helpers in snapshot.js) ----------

function describeSnapshot(s, mode) {
  const changes = describeChanges(s);
  return `${mode === "auto" ? describeCounts(s) : describeRun(s, mode)} · ${changes || "first version"}`;
}

// ---------- the Train button: disabled only with a reason, shown and in its tooltip ----------

function trainBlockedReason() {
  if (cfg.role === "viewer") return "Viewers cannot train: ask the project's owner for the labeller role.";
  if (job && ACTIVE.includes(job.status)) {
    const auto = job.trigger === "auto" ? " (automatic retraining)" : "";
    return `Training job ${job.id}${auto} is ${job.status}.`;
  }
  if (policy && policy.good_train_images === 0) return "Label at least one good image in the train split.";
  return null;
}

function renderTrainButton() {
  const reason = trainBlockedReason();
  const button = byTestId("train");
  button.disabled = submitting || !!reason;
  button.title = reason || "";
  const why = byTestId("train-reason");
  why.textContent = reason || "";
  why.hidden = !reason;
  const unchanged = byTestId("train-unchanged");
  const pending = policy && policy.pending;
  const warn = !reason && isUnchanged(pending);
  unchanged.textContent = warn
    ? `Nothing changed since version ${pending.previous_version}: a new training uses the same images (worth it for another preset or more epochs).`
    : "";
  unchanged.hidden = !warn;
}

function renderNoModelLine() {
  const el = byTestId("models-status");
  if (!modelsLoaded || models.length) return;
  if (job && ACTIVE.includes(job.status)) {
    const auto = job.trigger === "auto" ? " (automatic retraining)" : "";
    el.textContent = `No model yet: training job ${job.id}${auto} is ${job.status}.`;
  } else if (cfg.role === "viewer") el.textContent = "No model yet.";
  else if (policy && policy.good_train_images === 0)
    el.textContent = "No model yet. Label at least one good image in the train split, then press Train.";
  else el.textContent = "No model yet. Press Train.";
}

// ---------- jobs ----------

function renderJob() {
  jobBox.hidden = !job;
  if (!job) return;
  const running = ACTIVE.includes(job.status);
  const trigger = job.trigger === "auto" ? " · automatic retraining" : "";
  byTestId("job-title").textContent = `Job #${job.id}${trigger} · ${job.resolved_mode || job.mode} · ${job.preset}`;
  const st = byTestId("job-status");
  st.textContent = job.status;
  st.className = `badge status-${job.status}`;
  const pct = Math.round((job.progress || 0) * 100);
  const bar = byTestId("job-progress");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.dataset.status = job.status;
  bar.querySelector(".progress-bar").style.width = `${pct}%`;
  // A queued job has made no progress to speak of: it waits (the line under the bar says for what).
  const parts = [job.status === "queued" ? "waiting for a train worker" : `${pct} %`];
  if (job.epochs && job.status !== "queued") parts.push(`epoch ${job.epoch ?? 0} / ${job.epochs}`);
  if (running && PHASES[job.phase]) parts.push(PHASES[job.phase]);
  if (job.elapsed_seconds != null) parts.push(`${running ? "running for" : "took"} ${fmt.duration(job.elapsed_seconds)}`);
  if (running && job.eta_seconds != null)
    parts.push(`about ${fmt.duration(job.eta_seconds, true)} left in ${job.phase === "train" ? "training" : "this step"}`);
  const hist = job.history || [];
  if (hist.length) parts.push(`loss ${Number(hist[hist.length - 1].loss).toFixed(4)}`);
  if (job.status === "succeeded" && job.model) {
    const made = models.find((m) => m.id === job.model);
    parts.push(made ? `model v${made.version} created` : "model created");
  }
  byTestId("job-detail").textContent = parts.join(" · ");
  const snap = byTestId("job-snapshot");
  const verb = running ? "Trains" : job.status === "succeeded" ? "Trained" : "Was to train";
  snap.textContent = job.snapshot ? `${verb} on ${describeSnapshot(job.snapshot, job.resolved_mode || job.mode)}` : "";
  snap.hidden = !job.snapshot;
  // A worker beats every few seconds: a long silence means it may be gone (the job is failed at stale_after)
  const age = job.status === "running" ? job.heartbeat_age_seconds : null;
  const waiting = job.status === "queued" ? job.queued_seconds : null;
  const stale = byTestId("job-stale");
  stale.hidden = !(age > 20 || waiting > 20);
  if (stale.hidden) stale.textContent = "";
  else if (age > 20)
    stale.textContent =
      `No word from the worker for ${Math.round(age)} s: it may have stopped. ` +
      `The job is given up after ${Math.round(job.stale_after_seconds)} s of silence, and Train works again.`;
  else
    stale.textContent =
      `Waiting ${fmt.duration(waiting)} for a train worker: a worker trains one job at a time, and other ` +
      "projects' trainings may be ahead. A job whose message the queue lost is sent again by itself.";
  const failed = job.status === "failed";
  showError(jobError, failed ? `Training failed. ${job.error || "No reason was recorded."}` : null);
  const details = byTestId("job-error-detail");
  details.hidden = !(failed && job.error_detail);
  details.querySelector("pre").textContent = failed ? job.error_detail || "" : "";
  if (details.hidden) details.open = false;
  const cancel = byTestId("cancel-job");
  cancel.hidden = !running;
  if (cfg.role === "viewer") disable(cancel, true, "Viewers cannot cancel a training: an owner can give you the labeller role.");
  else disable(cancel, !!job.cancel_requested, "Cancelling: the worker stops within one training step.");
  if (cancelError) showError(jobError, cancelError);
  renderTrainButton();
  renderNoModelLine();
  lineChart(byTestId("loss-chart"), [{ points: hist.map((p) => [p.epoch, p.loss]), cls: "loss" }], {
    title: "Training loss",
    xLabel: "epoch",
    yLabel: "loss",
    integerX: true,
  });
}

function renderJobs(list) {
  const tbody = byTestId("jobs-table").querySelector("tbody");
  tbody.replaceChildren(
    ...list.map((j) =>
      h(
        "tr",
        {},
        h("td", {}, String(j.id)),
        h("td", {}, h("span", { class: `badge status-${j.status}` }, j.status)),
        h("td", {}, j.resolved_mode || j.mode),
        h("td", {}, j.preset),
        h("td", {}, j.epochs ?? "–"),
        h("td", {}, fmt.date(j.created_at)),
        h("td", {}, fmt.date(j.finished_at)),
        h("td", { class: "small" }, j.error || (j.trigger === "auto" ? "automatic retraining" : "")),
      ),
    ),
  );
}

async function loadJobs() {
  let wasRunning = job && ACTIVE.includes(job.status);
  const before = job && `${job.id}:${job.status}`;
  try {
    const data = await get(`projects/${pid}/training-jobs/`, { page_size: 10 });
    const list = data.results || [];
    renderJobs(list);
    const current = list.find((j) => ACTIVE.includes(j.status)) || list[0] || null;
    if (job && current && job.id !== current.id && ACTIVE.includes(current.status)) wasRunning = false;
    job = current;
    renderJob();
    showError(trainError, null);
  } catch (err) {
    showError(trainError, `Training jobs unavailable: ${err.detail || err.message}`);
  }
  const running = job && ACTIVE.includes(job.status);
  if (wasRunning && !running) {
    if (job.status === "succeeded") toast("Training finished.");
    loadModels();
    loadProject();
  } else if (!running || before !== (job && `${job.id}:${job.status}`)) {
    loadStatus(); // idle: the policy's line and the pending changes follow new labels; or a job started
  }
  clearTimeout(pollTimer);
  // Poll every 1.5 s while a job is queued or running; slowly otherwise, to notice automatic retraining.
  pollTimer = setTimeout(loadJobs, running ? 1500 : 8000);
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { mode: form.elements.mode.value, preset: form.elements.preset.value };
  const epochs = parseInt(form.elements.epochs.value, 10);
  if (epochs > 0) body.epochs = epochs;
  submitting = true;
  cancelError = null;
  renderTrainButton();
  showError(trainError, null);
  try {
    job = await post(`projects/${pid}/training-jobs/`, body);
    renderJob();
    toast(`Training #${job.id} queued.`);
  } catch (err) {
    showError(trainError, err.status === 409 ? `Not started: ${err.detail}` : `Training not started: ${err.detail || err.message}`);
    if (err.status === 503 && err.body && err.body.job) job = err.body.job;
  }
  submitting = false;
  renderTrainButton();
  loadJobs();
});

byTestId("cancel-job").addEventListener("click", async () => {
  if (!job) return;
  const done = Math.round((job.progress || 0) * 100);
  if (job.status === "running" && !window.confirm(`Stop training job ${job.id} (${done} % done)? It makes no model version; its labels count for the next run.`)) return;
  const b = byTestId("cancel-job");
  b.disabled = true;
  cancelError = null;
  try {
    job = await post(`training-jobs/${job.id}/cancel/`, {});
  } catch (err) {
    // kept until the next cancel: the job card's next refresh must not wipe the reason
    cancelError = `Cancel failed: ${err.detail || err.message}`;
  }
  renderJob();
  loadJobs();
});

// ---------- automatic retraining ----------

function settingsOf(p) {
  return p.settings || p;
}

// The policy's sentence is shown verbatim: the server decides what happens next (webapp/training/retrain.py).
async function loadStatus() {
  const el = byTestId("labels-until");
  const next = byTestId("pending-changes");
  try {
    policy = await get(`projects/${pid}/training-status/`);
    el.textContent = policy.reason;
    el.dataset.state = policy.state;
    el.dataset.value = String(policy.labels_until_next_run);
    const p = policy.pending;
    next.textContent = p ? `Next run: ${describeCounts(p)} · ${describeChanges(p) || "the first version"}.` : "";
    next.hidden = !p;
  } catch (err) {
    el.textContent = `Retraining status unavailable: ${err.detail || err.message}`;
  }
  renderTrainButton();
  renderNoModelLine();
}

const settingsCard = modelSettings({ pid, backbones: cfg.backbones || [], readOnly: cfg.role === "viewer" });

async function loadProject() {
  try {
    project = await get(`projects/${pid}/`);
    const s = settingsOf(project);
    settingsCard.show(s);
    byTestId("auto-retrain").checked = !!s.auto_retrain;
    byTestId("retrain-after").value = s.retrain_after_labels ?? "";
    await loadStatus();
  } catch (err) {
    showError(settingsError, `Could not load the project settings: ${err.detail || err.message}`);
  }
}

async function saveRetrainSettings(change) {
  const saved = await saveSettings(pid, change, settingsError);
  if (!saved) return loadProject(); // the saved values again
  project = saved;
  await loadStatus();
  toast("Settings saved.");
}
if (cfg.role === "viewer") {
  const why = "Viewers cannot change the settings: an owner can give you the labeller role.";
  for (const id of ["auto-retrain", "retrain-after"]) disable(byTestId(id), true, why);
}
byTestId("auto-retrain").addEventListener("change", (e) => saveRetrainSettings({ auto_retrain: e.target.checked }));
byTestId("retrain-after").addEventListener("change", (e) => {
  const v = parseInt(e.target.value, 10);
  if (v > 0) saveRetrainSettings({ retrain_after_labels: v });
  else showError(settingsError, "Enter a whole number of labels, at least 1.");
});

// ---------- model versions ----------

/** Show a version's histogram, ROC and precision/recall curves below the table. */
function show(m) {
  shownModelId = m.id;
  showCurves(m);
}
const rowActions = { show, shown: () => shownModelId, reload: () => loadModels(), readOnly: cfg.role === "viewer" };

async function loadModels() {
  const status = byTestId("models-status");
  const table = byTestId("models-table");
  try {
    const data = await get(`projects/${pid}/models/`, { page_size: 50 });
    models = data.results || [];
    modelsLoaded = true;
    table.querySelector("tbody").replaceChildren(...models.map((m) => modelRow(m, rowActions)));
    table.hidden = !models.length;
    status.textContent = "";
    status.classList.remove("error");
    renderNoModelLine();
    renderJob();
    const shown = models.find((m) => m.id === shownModelId) || models.find((m) => m.is_active) || models[0];
    if (shown) show(shown);
  } catch (err) {
    status.textContent = `Model versions unavailable: ${err.detail || err.message}`;
    status.classList.add("error");
  }
}

loadProject();
loadJobs();
loadModels();


