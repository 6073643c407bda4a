// /projects/{id}/members/ — who works on the project and with which role, the project's name and description,
// and deleting it. Owners change all of it (the API's rules: IsProjectOwnerForWrites); labellers rename and
// describe the project (as its settings); viewers read; anyone may leave.
import { api, get, patch, post } from "./api.js";
import { byTestId, config, disable, h, showError, toast } from "./dom.js";

const cfg = config();
const pid = cfg.projectId;
const isOwner = cfg.role === "owner";
const ROLES = ["owner", "labeller", "viewer"];
const canEditProject = isOwner || cfg.role === "labeller";
const NOT_OWNER = "Only the project's owners change its members.";
const VIEWER = "Viewers can look but not rename the project: an owner can give you the labeller role.";

const table = byTestId("members-table");
const status = byTestId("members-status");
const membersError = byTestId("members-error");
let project = null;

function roleCell(m) {
  const select = h("select", { "data-testid": "member-role-select", "aria-label": `Role of ${m.username}` });
  select.replaceChildren(...ROLES.map((r) => h("option", { value: r, selected: r === m.role }, r)));
  const creator = m.is_creator;
  if (!isOwner) disable(select, true, NOT_OWNER);
  else if (creator) disable(select, true, "The project's creator stays an owner.");
  select.addEventListener("change", async () => {
    showError(membersError, null);
    try {
      await post(`projects/${pid}/members/`, { user_id: m.user_id, role: select.value });
      toast(`${m.username} is now ${select.value === "owner" ? "an owner" : `a ${select.value}`}.`);
    } catch (err) {
      showError(membersError, `Role not changed: ${err.detail || err.message}`);
    }
    load();
  });
  return select;
}

function removeButton(m) {
  const self = m.user_id === cfg.userId;
  const button = h("button", { type: "button", class: "btn btn-quiet btn-danger", "data-testid": "member-remove" }, self ? "Leave" : "Remove");
  if (m.is_creator) disable(button, true, "The project's creator cannot be removed.");
  else if (!isOwner && !self) disable(button, true, NOT_OWNER);
  button.addEventListener("click", async () => {
    const question = self ? `Leave "${project.name}"? You will no longer see it.` : `Remove ${m.username} from "${project.name}"?`;
    if (!window.confirm(question)) return;
    showError(membersError, null);
    try {
      await api("DELETE", `projects/${pid}/members/${m.user_id}/`);
      if (self) return window.location.assign("/");
      toast(`${m.username} was removed.`);
    } catch (err) {
      showError(membersError, `Not removed: ${err.detail || err.message}`);
    }
    load();
  });
  return button;
}

async function load() {
  try {
    project = await get(`projects/${pid}/`);
    const data = await get(`projects/${pid}/members/`, { page_size: 500 });
    table.querySelector("tbody").replaceChildren(
      ...data.results.map((m) =>
        h(
          "tr",
          { "data-testid": "member-row", "data-username": m.username },
          h("td", {}, m.username, m.user_id === cfg.userId ? h("span", { class: "muted" }, " (you)") : null),
          h("td", {}, roleCell(m)),
          h("td", {}, removeButton(m)),
        ),
      ),
    );
    table.hidden = false;
    status.textContent = `${data.count} member${data.count === 1 ? "" : "s"}`;
    showProject();
  } catch (err) {
    status.textContent = `Could not load the members: ${err.detail || err.message}`;
    status.classList.add("error");
  }
}

// ---------- adding a member ----------

const addForm = byTestId("add-member");
const addError = byTestId("add-member-error");
addForm.hidden = !isOwner;
addForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const who = byTestId("member-name").value.trim();
  showError(addError, null);
  if (!who) return showError(addError, "Enter a user name or an e-mail address.");
  const body = { [who.includes("@") ? "email" : "username"]: who, role: byTestId("member-role").value };
  try {
    const m = await post(`projects/${pid}/members/`, body);
    toast(`${m.username} is ${m.role === "owner" ? "an owner" : `a ${m.role}`} of this project.`);
    byTestId("member-name").value = "";
  } catch (err) {
    showError(addError, err.detail || err.message);
  }
  load();
});

// ---------- the project itself ----------

const projectForm = byTestId("project-form");
const projectError = byTestId("project-error");

function showProject() {
  const name = byTestId("project-name-input");
  const description = byTestId("project-description");
  if (document.activeElement !== name) name.value = project.name;
  if (document.activeElement !== description) description.value = project.description || "";
  for (const el of [name, description]) disable(el, !canEditProject, VIEWER);
}

projectForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!canEditProject) return;
  showError(projectError, null);
  const name = byTestId("project-name-input").value.trim();
  if (!name) return showError(projectError, "A project needs a name.");
  try {
    project = await patch(`projects/${pid}/`, { name, description: byTestId("project-description").value });
    document.querySelectorAll('[data-testid="project-name"]').forEach((el) => (el.textContent = project.name));
    toast("Project saved.");
  } catch (err) {
    showError(projectError, `Not saved: ${err.detail || err.message}`);
  }
});

byTestId("delete-project").addEventListener("click", async () => {
  const error = byTestId("delete-error");
  showError(error, null);
  const typed = window.prompt(`Delete "${project.name}" with all its images, masks and models for everyone? Type the project's name to confirm.`);
  if (typed === null) return;
  if (typed.trim() !== project.name) return showError(error, "The name did not match: nothing was deleted.");
  try {
    await api("DELETE", `projects/${pid}/`);
    window.location.assign("/");
  } catch (err) {
    showError(error, `Not deleted: ${err.detail || err.message}`);
  }
});

for (const el of document.querySelectorAll(".needs-owner")) el.hidden = !isOwner;
for (const el of document.querySelectorAll(".needs-editor")) el.hidden = !canEditProject;
load();
