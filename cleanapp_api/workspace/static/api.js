// The service's JSON API with the signed-in bearer token, and the pages' configuration.
const TOKEN_KEY = "cleanapp.workspace.token";

export const config = { api_base: "/api/v4", tile_url: "", tile_attribution: "",
  statuses: [], status_transitions: {} };

export async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  Object.assign(config, await response.json());
}

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) { localStorage.setItem(TOKEN_KEY, value.trim()); }
export function clearToken() { localStorage.removeItem(TOKEN_KEY); }

/** The token's claims (not verified here: the service verifies every request). */
export function claims() {
  const parts = token().split(".");
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(atob(parts[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return null;
  }
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function request(method, path, body, { raw = false, headers = {} } = {}) {
  const init = { method, headers: { Accept: raw ? "*/*" : "application/json", ...headers } };
  if (token()) init.headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(config.api_base + path, init);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch { /* not JSON */ }
    if (response.status === 401) window.dispatchEvent(new CustomEvent("signed-out", { detail: message }));
    throw new ApiError(response.status, message);
  }
  return raw ? response : response.json();
}

export const api = {
  get: (path, options) => request("GET", path, undefined, options),
  post: (path, body, options) => request("POST", path, body ?? {}, options),
};

/** Query string of the given non-empty values. */
export function query(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== "" && value !== false) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}
