// REST client for /api/v1/: session auth with the CSRF header, JSON in and out, errors as ApiError with
// the server's `detail` so pages can show the reason in words next to what caused it.

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

export function csrfToken() {
  // The cookie first: signing in again (in another tab) gives a new token, which the page's meta tag lacks.
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (m) return decodeURIComponent(m[1]);
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta && meta.content ? meta.content : "";
}

/**
 * The session ended (logged out in another tab, expired): one banner says so and links to the login page in a
 * new tab, so what is on this page (unsaved painting, a selection) stays; once signed in there, this page's
 * next request works again.
 */
function signedOut() {
  let banner = document.querySelector('[data-testid="signed-out"]');
  if (banner) return;
  const next = encodeURIComponent(window.location.pathname + window.location.search);
  banner = document.createElement("div");
  banner.className = "signed-out";
  banner.dataset.testid = "signed-out";
  banner.setAttribute("role", "alert");
  const link = document.createElement("a");
  link.href = `/accounts/login/?next=${next}`;
  link.target = "_blank";
  link.rel = "noopener";
  link.textContent = "Sign in again in a new tab";
  banner.append("You are signed out (you logged out in another tab, or your session ended). ", link, ": what is on this page stays, and it works again once you are signed in.");
  document.body.prepend(banner);
}

function signedIn() {
  const banner = document.querySelector('[data-testid="signed-out"]');
  if (banner) banner.remove();
}

function describe(status, body, fallback) {
  // (the banner says how to sign in again; the server's "Authentication credentials were not provided." does not)
  if (status === 401) return "You are signed out: sign in again (the banner at the top says how); nothing is lost here.";
  if (body && typeof body === "object" && body.detail) return String(body.detail);
  if (status === 0) return "The server could not be reached. Check the connection and try again.";
  if (status === 403) return "You do not have permission to do this.";
  if (status === 404) return "Not found.";
  if (status === 413) return "Too large for the server.";
  if (status >= 500) return `The server failed (${status}). Try again in a moment.`;
  return fallback || `Request failed (${status}).`;
}

export function url(path, params) {
  let out = path.startsWith("/") || /^https?:\/\//.test(path) ? path : `${BASE}/${path}`;
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") q.set(k, v);
    }
    const qs = q.toString();
    if (qs) out += (out.includes("?") ? "&" : "?") + qs;
  }
  return out;
}

/** fetch() a JSON endpoint. `path` is relative to /api/v1/ unless it starts with "/". */
export async function api(method, path, { json, body, params, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin", signal };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRFToken"] = csrfToken();
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  let res;
  try {
    res = await fetch(url(path, params), init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, describe(0));
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  let data = null;
  if (type.includes("json")) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (res.status === 401) signedOut();
  else if (res.ok) signedIn();
  if (!res.ok) throw new ApiError(res.status, describe(res.status, data), data);
  return data;
}

export const get = (path, params, opts = {}) => api("GET", path, { ...opts, params });
export const post = (path, json) => api("POST", path, { json });
export const patch = (path, json, headers = {}) => api("PATCH", path, { json, headers });

/** The `If-Match` header of a write that must not overwrite a newer edit (an image's `revision`); {} without. */
export const ifMatch = (revision) => (revision ? { "If-Match": `"${revision}"` } : {});

/** GET a binary resource (image, PNG map) as a Blob; 404 gives null. */
export async function getBlob(path, { signal } = {}) {
  let res;
  try {
    res = await fetch(url(path), { credentials: "same-origin", signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, describe(0));
  }
  if (res.status === 404) return null;
  if (res.status === 401) signedOut();
  if (!res.ok) {
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    throw new ApiError(res.status, describe(res.status, data), data);
  }
  return res.blob();
}

/** PUT raw bytes (a PNG mask). */
export function putBytes(path, blob, contentType, headers = {}) {
  return api("PUT", path, { body: blob, headers: { "Content-Type": contentType, ...headers } });
}

/**
 * multipart POST through XMLHttpRequest so that upload progress can be shown.
 * Resolves with {status, data}; rejects with ApiError (network failures and non-2xx answers).
 */
export function upload(path, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, describe(0)));
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status === 401) signedOut();
      if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, data });
      else reject(new ApiError(xhr.status, describe(xhr.status, data), data));
    };
    xhr.send(formData);
  });
}
