// "/" — the user's projects and a create form.
import { get, post } from "./api.js";
import { byTestId, fmt, h, showError } from "./dom.js";

const list = byTestId("project-list");
const status = byTestId("projects-status");
const form = document.getElementById("create-project");
const formError = form.querySelector('[data-role="error"]');

function card(p) {
  const c = p.counts || {};
  return h(
    "li",
    { class: "project-item", "data-testid": "project-item" },
    h("a", { href: `/projects/${p.id}/`, class: "project-link" }, p.name),
    p.description ? h("p", { class: "muted small" }, p.description) : null,
    h(
      "p",
      { class: "small" },
      h("span", { class: "badge" }, fmt.count(c.images ?? 0, "image")),
      " ",
      h("span", { class: "badge badge-good" }, `${c.good ?? 0} good`),
      " ",
      h("span", { class: "badge badge-bad" }, `${c.defective ?? 0} defective`),
      " ",
      h("span", { class: "badge" }, `${c.unlabeled ?? 0} unlabeled`),
      " ",
      h("span", { class: "muted" }, `created ${fmt.date(p.created_at)}`),
    ),
  );
}

async function load() {
  try {
    const data = await get("projects/", { page_size: 500 });
    list.replaceChildren(...data.results.map(card));
    status.textContent = data.count ? `${data.count} project${data.count === 1 ? "" : "s"}` : "No projects yet. Create one.";
    status.classList.remove("error");
  } catch (err) {
    status.textContent = `Could not load projects: ${err.detail || err.message}`;
    status.classList.add("error");
  }
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = form.elements.name.value.trim();
  if (!name) {
    showError(formError, "Give the project a name.");
    form.elements.name.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const p = await post("projects/", { name, description: form.elements.description.value.trim() });
    window.location.assign(`/projects/${p.id}/`);
  } catch (err) {
    showError(formError, err);
    button.disabled = false;
  }
});

load();
