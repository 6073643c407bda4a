// The gallery's training line: the running job (polled every 2 s while it runs, 10 s otherwise) and
// what automatic retraining will do next.
import { get } from "./api.js";
import { byTestId, fmt, h } from "./dom.js";

let jobTimer = null;

/**
 * Show the running job (and what automatic retraining does next); poll, and call onFinished when a job ends and
 * onStatus(status) after every poll (the page compares the active model with the one it shows).
 */
export async function loadJob(cfg, onFinished, onStatus = () => {}) {
  const pid = cfg.projectId;
  const el = byTestId("running-job");
  let running = null;
  try {
    // One request for the running job and what automatic retraining will do next.
    const st = await get(`projects/${pid}/training-status/`);
    running = st.active_job || null;
    onStatus(st);
    const n = st.labels_until_next_run;
    // before the first model the split policy keeps some good labels for testing: say how many labels it takes
    const next = !st.auto_retrain
      ? "automatic retraining off"
      : n <= 0
        ? "next training due"
        : st.next_run === "first_model"
          ? `${fmt.count(n, "good train image")} until the first model (about ${fmt.count(st.good_labels_until_first_model ?? n, "good label")})`
          : `${fmt.count(n, "label")} until the next training`;
    el.replaceChildren(
      h(
        "a",
        { href: cfg.urls.training },
        running ? `Training #${running.id} ${running.status} · ${fmt.pct(running.progress)}` : "No training running",
      ),
      h("br"),
      h("span", { class: "muted small", "data-testid": "labels-until" }, next),
    );
  } catch (err) {
    el.textContent = `Training status unavailable: ${err.detail || err.message}`;
  }
  clearTimeout(jobTimer);
  // Poll fast while a job runs, so a finished model (and its scores) shows up without a reload.
  jobTimer = setTimeout(
    () => {
      const wasRunning = !!running;
      loadJob(cfg, onFinished, onStatus).then((nowRunning) => {
        if (wasRunning && !nowRunning) onFinished();
      });
    },
    running ? 2000 : 10000,
  );
  return running;
}

