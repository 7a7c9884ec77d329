// Small DOM helpers: elements without innerHTML, messages, number and time formats.

/** h("button", {class: "primary", onclick}, "Text", child) builds an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let toastTimer = 0;
export function toast(message, { error = false } = {}) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = error ? "toast error" : "toast";
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, error ? 8000 : 4000);
}

/** Run an async action from a button: disable it meanwhile, show errors as a message. */
export async function busy(button, action) {
  const label = button?.textContent;
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
  try {
    return await action();
  } catch (error) {
    toast(error.message || String(error), { error: true });
    return undefined;
  } finally {
    if (button) { button.disabled = false; button.removeAttribute("aria-busy"); button.textContent = label; }
  }
}

export const fmt = {
  n2: (v) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(2)),
  pct: (v) => `${Math.round(Number(v) * 100)}%`,
  time: (text) => (text ? `${text.slice(0, 10)} ${text.slice(11, 16)}` : "–"),
  words: (text) => String(text || "").replace(/_/g, " "),
  metres: (v) => (v === null || v === undefined ? "" : v >= 1000 ? `${(v / 1000).toFixed(1)} km` : `${Math.round(v)} m`),
};

export function statusBadge(status) { return h("span", { class: `status ${status}` }, fmt.words(status)); }

export function field(labelText, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", {}, h("label", { for: id }, labelText), input, hint ? h("div", { class: "muted" }, hint) : null);
}
