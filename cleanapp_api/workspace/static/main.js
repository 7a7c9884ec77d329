// The workspace's pages by URL fragment: #/analyse, #/cases, #/cases/<id>, #/signin.
// A sign-in link (cleanapp-api demo-token) carries the token as #signin=<token>.
import { api, claims, clearToken, config, loadConfig, setToken, token } from "./api.js";
import { renderAnalyse } from "./analyse.js";
import { renderCase } from "./case.js";
import { renderCases } from "./cases.js";
import { getMap, resetMap } from "./map.js";
import { busy, field, h, toast } from "./ui.js";

function renderSignIn(main, message) {
  resetMap();
  const input = h("textarea", { id: "token", rows: 4, placeholder: "eyJhbGciOi…", autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  main.replaceChildren(h("div", { class: "signin" },
    h("h1", {}, "Sign in"),
    message ? h("p", { class: "error" }, message) : null,
    h("p", {}, "Paste an access token of the CleanApp auth service, or open the sign-in link that ",
      h("code", {}, "cleanapp-api demo-token"), " (or ", h("code", {}, "make demo"), ") prints."),
    h("form", { onsubmit: (event) => {
      event.preventDefault();
      busy(submit, async () => {
        setToken(input.value);
        location.hash = "#/analyse";
      });
    } }, field("Access token", input), h("div", { class: "row", style: { marginTop: ".5rem" } }, submit))));
  input.focus();
}

let verifiedToken = "";

async function route() {
  const main = document.getElementById("main");
  const hash = location.hash || "#/analyse";
  if (hash.startsWith("#signin=")) {
    setToken(decodeURIComponent(hash.slice("#signin=".length)));
    history.replaceState(null, "", `${location.pathname}#/analyse`);
    return route();
  }
  const who = claims();
  document.getElementById("who").textContent = who ? `Signed in as ${who.user_id}` : "";
  document.getElementById("sign-out").hidden = !who;
  const page = hash.startsWith("#/cases") ? "cases" : hash.startsWith("#/signin") ? "signin" : "analyse";
  document.querySelectorAll("[data-nav]").forEach((a) => {
    if (a.dataset.nav === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  if (!token() || page === "signin") return renderSignIn(main);
  try {
    if (verifiedToken !== token()) {
      await api.get("/cases?limit=1"); // a 401 here sends the person back to sign in
      verifiedToken = token();
    }
    const caseMatch = hash.match(/^#\/cases\/([^/?]+)/);
    if (caseMatch) await renderCase(main, decodeURIComponent(caseMatch[1]));
    else if (page === "cases") await renderCases(main);
    else renderAnalyse(main);
    document.title = `${document.querySelector("#main h1")?.textContent || "Workspace"} · CleanApp Cases`;
  } catch (error) {
    if (error.status === 401) return;
    main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error" }, error.message));
  }
}

window.addEventListener("signed-out", (event) => {
  clearToken();
  renderSignIn(document.getElementById("main"), `Please sign in again (${event.detail}).`);
});
document.getElementById("sign-out").addEventListener("click", () => {
  clearToken();
  toast("Signed out.");
  location.hash = "#/signin";
});
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  await loadConfig();
  getMap();
  document.body.dataset.tiles = config.tile_url ? "on" : "off";
  await route();
  document.body.dataset.ready = "true";
});
