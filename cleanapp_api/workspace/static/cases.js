// Cases: the reviewer queue (every case's open match suggestions), the list with filters
// (status, near a point, mine, updated since) and the cases' anchors on the map.
import { api, config, query } from "./api.js";
import { COLOURS, fitTo, getMap, reportMarker, resetMap } from "./map.js";
import { openSuggestions, suggestionItem } from "./suggestions.js";
import { busy, field, fmt, h, statusBadge } from "./ui.js";

const filters = { status: [], near: "", radius_m: "1000", mine: false, updated_since: "" };

export function renderCases(main) {
  const layer = resetMap();
  const statusBoxes = config.statuses.map((s) => h("label", { class: "inline" },
    h("input", { type: "checkbox", name: "status", value: s, checked: filters.status.includes(s) }), fmt.words(s)));
  const near = h("input", { type: "text", id: "near", placeholder: "47.3769, 8.5417", value: filters.near });
  const radius = h("input", { type: "number", id: "near-radius", min: "1", max: "50000", value: filters.radius_m });
  const mine = h("input", { type: "checkbox", id: "mine", checked: filters.mine });
  const since = h("input", { type: "datetime-local", id: "updated-since", value: filters.updated_since });
  const list = h("div", { id: "case-list", "aria-live": "polite" });
  const apply = h("button", { type: "submit", class: "primary", id: "apply-filters" }, "Show cases");
  const form = h("form", { onsubmit: (event) => {
    event.preventDefault();
    filters.status = statusBoxes.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
    filters.near = near.value.trim();
    filters.radius_m = radius.value;
    filters.mine = mine.checked;
    filters.updated_since = since.value;
    busy(apply, () => load(list, layer));
  } },
  h("fieldset", {}, h("legend", {}, "Status"), statusBoxes),
  h("div", { class: "row" }, field("Near (lat, lon)", near),
    field("Within (m)", radius),
    h("button", { type: "button", onclick: () => {
      const c = getMap().getCenter();
      near.value = `${c.lat.toFixed(5)},${c.lng.toFixed(5)}`;
    } }, "Use map centre")),
  h("div", { class: "row" }, field("Updated since", since),
    h("label", { class: "inline", for: "mine" }, mine, "Only cases I created")),
  h("div", { class: "row" }, apply));
  const queue = h("section", { id: "review-queue", "aria-label": "Suggestions to review" });
  main.replaceChildren(h("h1", {}, "Cases"), queue, form, list);
  load(list, layer);
  loadQueue(queue, () => load(list, layer));
}

/** The reviewer queue: open suggestions across cases, oldest first, decided in place. */
async function loadQueue(queue, reloadList) {
  let open;
  try {
    open = await openSuggestions();
  } catch (error) {
    queue.replaceChildren(h("p", { class: "error" }, `Suggestions to review: ${error.message}`));
    return;
  }
  const onDecided = async () => {
    await Promise.all([loadQueue(queue, reloadList), reloadList()]);
    (queue.querySelector("summary") || queue.querySelector("#queue-empty"))?.focus();
  };
  if (!open.length) {
    queue.replaceChildren(h("p", { class: "muted", id: "queue-empty", tabindex: "-1" }, "No match suggestions to review."));
    return;
  }
  const previous = queue.querySelector("details");
  queue.replaceChildren(h("details", { open: previous ? previous.open : true },
    h("summary", { id: "queue-summary" }, `Suggestions to review (${open.length}${open.length >= 100 ? "+" : ""})`),
    h("p", { class: "muted" }, "Reports that automatic matching found close to a case but not sure enough to link. "
      + "Accept links the report; reject leaves it alone."),
    h("ul", { class: "list suggestions", id: "queue" },
      open.map((s) => suggestionItem(s, { showCase: true, onDecided })))));
}

async function load(list, layer) {
  const q = query({
    status: filters.status.join(","),
    near: filters.near,
    radius_m: filters.near ? filters.radius_m : "",
    mine: filters.mine ? "true" : "",
    updated_since: filters.updated_since ? new Date(filters.updated_since).toISOString() : "",
  });
  const { cases } = await api.get(`/cases${q}`);
  layer.clearLayers();
  list.replaceChildren(
    h("p", { class: "muted" }, `${cases.length} case${cases.length === 1 ? "" : "s"}`),
    h("ul", { class: "list" }, cases.map((c, i) => {
      if (c.anchor_lat !== undefined && c.anchor_lat !== null) {
        reportMarker({ seq: c.case_id, latitude: c.anchor_lat, longitude: c.anchor_lng },
          { colour: COLOURS[i % COLOURS.length], radius: 7, title: c.title }).addTo(layer)
          .on("click", () => { location.hash = `#/cases/${c.case_id}`; });
      }
      return h("li", {}, h("a", { class: "case-item", href: `#/cases/${c.case_id}` },
        h("div", { class: "t" }, c.title),
        h("div", { class: "m" }, statusBadge(c.status),
          ` · ${c.linked_report_count} reports · severity ${fmt.n2(c.severity_score)} · urgency ` +
          `${fmt.n2(c.urgency_score)} · updated ${fmt.time(c.updated_at)}` +
          (c.distance_m !== undefined ? ` · ${fmt.metres(c.distance_m)} away` : ""))));
    })),
  );
  fitTo(layer, 16);
}
