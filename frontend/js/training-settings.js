// The training page's "Model settings" card: backbone, working resolution, tiling and the test split's share.
// Each change is one PATCH of the project's settings; the server checks it (the same rules as the API and the
// admin) and a refused value is explained under the card and the saved one shown again.
import { get, patch } from "./api.js";
import { byTestId, disable, showError, toast } from "./dom.js";

const FIELDS = {
  backbone: { id: "setting-backbone", read: (el) => el.value },
  image_size: { id: "setting-image-size", read: (el) => el.value.trim() },
  tiling: { id: "setting-tiling", read: (el) => el.value.trim() },
  test_fraction: { id: "setting-test-fraction", read: (el) => Number(el.value) },
};

/**
 * PATCH some of the project's settings; the project on success, else null with the reason shown in `errorEl`.
 * The one save of the training page's settings (this card and the automatic-retraining one).
 */
export async function saveSettings(pid, change, errorEl) {
  showError(errorEl, null);
  try {
    return await patch(`projects/${pid}/`, { settings: change });
  } catch (err) {
    // The setting's own message ("'250' is not a multiple of 8"), without the API's "Invalid input. settings.x:"
    const nested = err.body && err.body.errors && err.body.errors.settings;
    const reason = nested && typeof nested === "object" ? Object.values(nested).flat().join(" ") : err.detail || err.message;
    showError(errorEl, `Setting not saved: ${reason}`);
    return null;
  }
}

/**
 * @typedef {{name: string, here: boolean, install: string, licence: string}} Backbone
 * @param {{pid: number, backbones: Backbone[], readOnly: boolean}} o
 */
export function modelSettings({ pid, backbones: choices, readOnly }) {
  const error = byTestId("model-settings-error");
  const select = byTestId(FIELDS.backbone.id);
  const note = byTestId("backbone-note");
  const backbones = choices.map((b) => b.name);
  select.replaceChildren(
    ...choices.map((b) => new Option(b.here ? b.name : `${b.name} (weights not on this server)`, b.name)),
  );
  // A backbone whose weights this server lacks can still be chosen (train workers elsewhere may have them), but
  // the page says what a training needs before it fails on it.
  function explain() {
    const chosen = choices.find((b) => b.name === select.value);
    note.hidden = !chosen || chosen.here;
    note.textContent = note.hidden
      ? ""
      : `The pretrained weights of ${chosen.name} are not installed on this server: a training fails unless the ` +
        `train worker has them (${chosen.install}). Licence: ${chosen.licence}.`;
  }
  select.addEventListener("change", explain);

  /** Show saved values: all of them, or just the one named (an answer must not reset a field being edited). */
  function show(settings, just = null) {
    for (const [key, f] of Object.entries(FIELDS)) {
      if (just && key !== just) continue;
      const el = byTestId(f.id);
      const value = settings[key];
      if (key === "backbone" && value && !backbones.includes(value)) select.append(new Option(value, value));
      el.value = value ?? "";
      disable(el, readOnly, "Viewers cannot change the settings: an owner can give you the labeller role.");
    }
    explain();
  }

  async function save(key, value) {
    const project = await saveSettings(pid, { [key]: value }, error);
    if (project) {
      show(project.settings, key);
      toast("Setting saved: it applies from the next training.");
    } else {
      try {
        show((await get(`projects/${pid}/`)).settings, key); // the saved value again
      } catch {
        // the error above already says what went wrong
      }
    }
  }

  for (const [key, f] of Object.entries(FIELDS)) {
    const el = byTestId(f.id);
    el.addEventListener("change", () => {
      const value = f.read(el);
      if (key === "test_fraction" && !(value >= 0 && value <= 0.9)) {
        showError(error, "The test split's share is a number from 0 to 0.9 (0.2 = one new label in five).");
        return;
      }
      if (value === "") {
        showError(error, `Enter a value (${key === "tiling" ? '"off" for no tiling' : '"auto" to let the studio choose'}).`);
        return;
      }
      save(key, value);
    });
  }
  return { show };
}
