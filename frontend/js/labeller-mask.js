// The labeller's mask on the server: its status line, saving (PUT when something is painted, DELETE when the
// painting was emptied: the API refuses an all-zero mask) and the guards that keep unsaved painting from being
// lost when the page is left.
import { api, ifMatch, putBytes } from "./api.js";
import { byTestId, showError } from "./dom.js";

/**
 * @param {object} o
 * @param {number} o.imageId
 * @param {() => import("./painter.js").MaskPainter | null} o.painter the painter (created once the image loads)
 * @param {() => string | undefined} o.imageRevision the image's revision as this page last read it
 * @param {() => Promise<void>} o.refresh reloads the image (label, split, has_mask, revision) after a save
 */
export function maskStore({ imageId, painter, imageRevision, refresh }) {
  const status = byTestId("mask-status");
  const error = byTestId("mask-error");
  let saving = null;
  // After a 412 (someone else saved this image meanwhile) the next Save is the person's decision to replace it.
  let overwrite = false;
  const store = { onServer: false, error, save, setStatus };

  const dirty = () => Boolean(painter() && painter().dirty);

  function setStatus(text) {
    if (text !== undefined) status.textContent = text;
    else status.textContent = dirty() ? "unsaved changes" : store.onServer ? "saved" : "no mask";
    status.dataset.dirty = dirty() ? "true" : "false";
  }

  /** Save the mask if it changed. Resolves true when nothing is left unsaved. */
  async function save() {
    if (!dirty()) return true;
    if (saving) return saving;
    const p = painter();
    saving = (async () => {
      const revision = p.revision;
      setStatus("saving…");
      showError(error, null);
      try {
        const { blob } = await p.toPng();
        const condition = overwrite ? {} : ifMatch(imageRevision());
        if (blob) {
          await putBytes(`images/${imageId}/mask/`, blob, "image/png", condition);
          store.onServer = true;
        } else if (store.onServer) {
          await api("DELETE", `images/${imageId}/mask/`, { headers: condition });
          store.onServer = false;
        }
        overwrite = false;
        // strokes made while the upload ran stay unsaved
        if (p.revision === revision) p.markSaved();
        else p.savedRevision = revision;
        await refresh();
        setStatus();
        return true;
      } catch (err) {
        if (err.status === 412) {
          // the painting stays on the page, unsaved: nothing of either person's work is lost
          overwrite = true;
          showError(error, `Mask not saved. ${err.detail} Or press Save mask again to replace it with yours.`);
          setStatus("not saved: changed elsewhere");
          return false;
        }
        showError(error, `Mask not saved: ${err.detail || err.message}`);
        setStatus("not saved");
        return false;
      } finally {
        saving = null;
      }
    })();
    return saving;
  }

  byTestId("save-mask").addEventListener("click", save);
  window.addEventListener("beforeunload", (e) => {
    if (dirty()) {
      e.preventDefault();
      e.returnValue = "";
    }
  });
  // A link leaves the page only after unsaved mask work is stored.
  document.addEventListener("click", async (e) => {
    const a = e.target.closest && e.target.closest("a[href]");
    if (!a || !dirty() || e.defaultPrevented || a.target === "_blank") return;
    e.preventDefault();
    if (await save()) window.location.assign(a.href);
  });
  return store;
}
