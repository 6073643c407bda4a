// Defect types (free text such as "crack" or "broken_large"): the project's list, for the gallery's filter
// and the labeller's suggestions, and the labeller's field that PATCHes one image's type.

import { get, patch } from "./api.js";
import { byTestId, showError, toast } from "./dom.js";

/** The project's defect types, by name: [{name, count}]. */
export async function projectDefectTypes(projectId) {
  const data = await get(`projects/${projectId}/defect-types/`, { page_size: 500 });
  return data.results || [];
}

/** The gallery's filter offers the project's types with their counts; `wanted` (from the URL) stays selectable. */
export async function fillDefectTypeFilter(select, projectId, wanted = "") {
  let types;
  try {
    types = await projectDefectTypes(projectId);
  } catch {
    return; // the filter keeps its options; the gallery reports failed requests itself
  }
  const options = types.map((t) => new Option(`${t.name} (${t.count.toLocaleString()})`, t.name));
  if (wanted && !types.some((t) => t.name === wanted)) options.push(new Option(`${wanted} (0)`, wanted));
  select.replaceChildren(new Option("Any", ""), ...options);
  select.value = wanted || "";
}

/**
 * The labeller's field: shows the image's type, suggests the project's types (a datalist), saves on
 * Enter or when the field loses focus (an emptied field clears the type), Esc undoes the typing.
 */
export function defectTypeField({ projectId, image, readOnly, onSaved }) {
  const input = byTestId("defect-type");
  const list = byTestId("defect-type-options");
  const status = byTestId("defect-type-status");
  const error = byTestId("defect-type-error");
  let saved = image.defect_type || "";
  input.value = saved;
  input.disabled = readOnly;
  if (readOnly) input.title = "Viewers cannot set the defect type: an owner can give you the labeller role.";

  projectDefectTypes(projectId)
    .then((types) => list.replaceChildren(...types.map((t) => new Option(`${t.count} image(s)`, t.name))))
    .catch(() => {}); // only suggestions: the field works without them

  async function save() {
    const value = input.value.trim();
    if (value === saved) return;
    showError(error, null);
    status.textContent = "saving…";
    try {
      const updated = await patch(`images/${image.id}/`, { defect_type: value });
      saved = updated.defect_type || "";
      input.value = saved;
      status.textContent = saved ? "saved" : "cleared";
      toast(saved ? `Defect type: ${saved}.` : "Defect type cleared.");
      if (onSaved) onSaved(updated);
    } catch (err) {
      const reason = err.body && err.body.errors && err.body.errors.defect_type;
      showError(error, `Defect type not saved: ${reason ? [].concat(reason).join(" ") : err.detail || err.message}`);
      status.textContent = "not saved";
    }
  }

  input.addEventListener("change", save);
  // The server may change the type itself (a label other than defective drops it): show what it holds now.
  function show(value) {
    saved = value || "";
    input.value = saved;
    status.textContent = "";
    showError(error, null);
  }
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      input.blur(); // "change" saves
    } else if (e.key === "Escape") {
      input.value = saved;
      input.blur();
    }
  });
  return { show };
}
