// Analyse: draw a scope (or pick a report and a radius), see its statistics, the incident
// hypotheses as coloured groups with their rationale, explain any two reports of a group,
// and create a case from a hypothesis or attach it to a candidate case.
import { api } from "./api.js";
import { COLOURS, GREY, fitTo, getMap, outline, reportMarker, resetMap, startDrawing, viewPolygon } from "./map.js";
import { busy, field, fmt, h, toast } from "./ui.js";

const state = { scope: null, result: null, selected: -1, pair: [], markers: new Map(), layer: null };

export function renderAnalyse(main) {
  state.layer = resetMap();
  state.markers = new Map();
  // #/analyse?at=lat,lon,zoom opens the map there (a link to a place); ...&seq=N fills in
  // the report to analyse around (a suggested report's link)
  const at = new URLSearchParams(location.hash.split("?")[1] || "").get("at");
  if (at) {
    const [lat, lon, zoom] = at.split(",").map(Number);
    if (Number.isFinite(lat) && Number.isFinite(lon)) {
      state.scope = null;
      state.result = null;
      getMap().setView([lat, lon], Number.isFinite(zoom) ? zoom : 16);
    }
  }
  const seqParam = Number(new URLSearchParams(location.hash.split("?")[1] || "").get("seq"));
  const seqInput = h("input", { type: "number", min: "1", id: "seed-seq", placeholder: "e.g. 101",
    value: Number.isInteger(seqParam) && seqParam > 0 ? String(seqParam) : undefined });
  const radiusInput = h("input", { type: "number", min: "1", max: "50000", id: "seed-radius", value: "250" });
  const classification = h("select", { id: "classification" },
    h("option", { value: "physical" }, "Physical"), h("option", { value: "digital" }, "Digital"));
  const model = h("select", { id: "model" },
    h("option", { value: "default" }, "Default model"), h("option", { value: "upstream" }, "Upstream model"));
  const analyseScope = h("button", { type: "button", class: "primary", id: "analyse-scope", disabled: !state.scope,
    onclick: () => busy(analyseScope, () => analyse({ geometry: state.scope })) }, "Analyse scope");
  const analyseSeed = h("button", { type: "button", id: "analyse-seed",
    onclick: () => busy(analyseSeed, () => {
      const seq = Number(seqInput.value);
      if (!seq) throw new Error("Enter a report number (seq) first, or click a report on the map.");
      return analyse({ seq, radius_m: Number(radiusInput.value) || 250 });
    }) }, "Analyse around report");
  const scopeNote = h("p", { class: "muted", id: "scope-note" },
    state.scope ? "A drawn scope is ready." : "No scope yet: draw one on the map or use the visible area.");
  const setScope = (geometry, note) => {
    state.scope = geometry;
    drawScope();
    scopeNote.textContent = note;
    analyseScope.disabled = false;
    analyseScope.focus();
  };
  const results = h("div", { id: "results" });
  main.replaceChildren(
    h("h1", {}, "Analyse an area"),
    h("fieldset", {},
      h("legend", {}, "Scope"),
      h("div", { class: "row" },
        h("button", { type: "button", id: "draw-polygon",
          onclick: () => startDrawing((g) => setScope(g, "Polygon drawn: analyse it, or draw again.")) },
          "Draw a polygon"),
        h("button", { type: "button", id: "use-view",
          onclick: () => setScope(viewPolygon(), "The visible map area is the scope.") },
          "Use the visible map area"),
        analyseScope),
      scopeNote,
      h("div", { class: "row" }, field("Report number (seq)", seqInput), field("Radius (m)", radiusInput), analyseSeed),
      h("div", { class: "row" }, field("Classification", classification), field("Model", model)),
    ),
    results,
  );
  state.classification = classification;
  state.model = model;
  state.seqInput = seqInput;
  state.results = results;
  if (state.result) showResult();
  else drawScope();
}

function drawScope() {
  state.layer.clearLayers();
  if (state.scope) {
    const shape = outline(state.scope).addTo(state.layer);
    fitTo(shape);
  }
}

async function analyse(scope) {
  const body = { classification: state.classification.value, model: state.model.value, n: 2000 };
  const result = scope.geometry
    ? await api.post("/clusters/analyze", { ...body, geometry: scope.geometry })
    : await api.post("/clusters/from-report", { ...body, seq: scope.seq, radius_m: scope.radius_m });
  state.result = result;
  state.selected = -1;
  state.pair = [];
  if (!scope.geometry) state.scope = null;
  showResult();
  toast(`Analysed ${plural(result.stats.report_count, "report")}: ${plural(grouped().length, "group")}.`);
}

function plural(n, noun) { return `${n} ${noun}${n === 1 ? "" : "s"}`; }

function grouped() {
  return state.result.hypotheses.filter((x) => x.report_count >= 2);
}

function colourOf(hypothesis) {
  const index = grouped().indexOf(hypothesis);
  return index >= 0 && index < COLOURS.length ? COLOURS[index] : GREY;
}

function reportsBySeq() {
  const bySeq = new Map();
  for (const item of state.result.reports) {
    const a = item.analysis[0] || {};
    bySeq.set(item.report.seq, { ...item.report, title: a.title || "", severity: a.severity_level ?? NaN,
      summary: a.summary || "" });
  }
  return bySeq;
}

function showResult() {
  const r = state.result;
  const s = r.stats;
  const groups = grouped();
  const singles = r.hypotheses.length - groups.length;
  state.results.replaceChildren(
    h("h2", {}, "Scope statistics"),
    h("div", { class: "stats", id: "stats" },
      h("div", {}, h("b", {}, s.report_count), "reports"),
      h("div", {}, h("b", {}, r.hypotheses.length), "hypotheses"),
      h("div", {}, h("b", {}, s.high_priority_count), "high priority"),
      h("div", {}, h("b", {}, fmt.n2(s.severity_average)), "mean severity"),
      h("div", {}, h("b", {}, fmt.n2(s.severity_max)), "max severity"),
      h("div", {}, h("b", {}, s.last_seen_at ? s.last_seen_at.slice(0, 10) : "–"), "last report")),
    h("h2", {}, `Hypotheses (${plural(groups.length, "group")}${singles ? `, ${plural(singles, "single report")}` : ""})`),
    groups.length ? "" : h("p", { class: "muted" }, "No two reports of this scope look like one incident."),
    h("ol", { class: "list", id: "hypotheses", "aria-label": "Hypotheses" },
      groups.slice(0, 40).map((x, i) => h("li", {},
        h("button", { type: "button", class: "hyp", "aria-pressed": String(state.selected === i),
          "data-hypothesis": x.hypothesis_id, onclick: () => select(i) },
          h("span", { class: "swatch", style: { background: colourOf(x) }, "aria-hidden": "true" }),
          h("span", {}, h("div", { class: "t" }, x.title || "(untitled)"),
            h("div", { class: "m" }, `${x.report_count} reports · confidence ${fmt.pct(x.confidence)} · ` +
              `urgency ${fmt.n2(x.urgency_score)} · severity ${fmt.n2(x.severity_score)}`)))))),
    h("div", { id: "hypothesis-detail" }),
  );
  drawResult();
  if (state.selected >= 0) select(state.selected, { keepPair: true });
}

function drawResult() {
  const layer = state.layer;
  layer.clearLayers();
  state.markers = new Map();
  const r = state.result;
  if (state.scope) outline(state.scope).addTo(layer);
  else if (r.scope_type === "seed_report") {
    const seed = r.reports.find((x) => x.report.seq === r.anchor_report_seq);
    if (seed) L.circle([seed.report.latitude, seed.report.longitude], { radius: r.radius_m, color: "#3a6ea5",
      weight: 2, dashArray: "6 5", fillOpacity: 0.05, interactive: false }).addTo(layer);
  }
  const colour = new Map();
  const selected = state.selected >= 0 ? grouped()[state.selected] : null;
  grouped().forEach((x) => x.report_seqs.forEach((seq) => colour.set(seq, colourOf(x))));
  const bySeq = reportsBySeq();
  for (const report of bySeq.values()) {
    const inSelected = selected?.report_seqs.includes(report.seq);
    const c = colour.get(report.seq) || GREY;
    const marker = reportMarker(report, {
      colour: selected && !inSelected ? "#c3c8ce" : c,
      radius: inSelected ? 9 : colour.has(report.seq) ? 6 : 4,
      title: `${report.seq}: ${report.title}`,
    }).addTo(layer);
    marker.on("click", () => pickReport(report.seq));
    state.markers.set(report.seq, marker);
    if (inSelected) {
      marker.bringToFront();
      marker.bindTooltip(String(report.seq), { permanent: true, direction: "right", className: "report-label" });
    }
  }
  if (selected) {
    const group = L.featureGroup(selected.report_seqs.map((s) => state.markers.get(s)).filter(Boolean));
    fitTo(group, 18);
  } else fitTo(layer);
}

function pickReport(seq) {
  state.seqInput.value = String(seq);
  const index = grouped().findIndex((x) => x.report_seqs.includes(seq));
  if (index >= 0 && index !== state.selected) select(index);
}

function select(index, { keepPair = false } = {}) {
  state.selected = index;
  if (!keepPair) state.pair = [];
  const x = grouped()[index];
  document.querySelectorAll("#hypotheses .hyp").forEach((el, i) => el.setAttribute("aria-pressed", String(i === index)));
  drawResult();
  const bySeq = reportsBySeq();
  const explainButton = h("button", { type: "button", id: "explain-pair", disabled: state.pair.length !== 2,
    onclick: () => busy(explainButton, () => explain()) }, "Explain the two selected reports");
  const rows = x.report_seqs.map((seq) => {
    const report = bySeq.get(seq) || { seq };
    const box = h("input", { type: "checkbox", "aria-label": `Compare report ${seq}`, checked: state.pair.includes(seq),
      onchange: (event) => {
        if (event.target.checked) state.pair = [...state.pair.filter((s) => s !== seq), seq].slice(-2);
        else state.pair = state.pair.filter((s) => s !== seq);
        document.querySelectorAll("#members input[type=checkbox]").forEach((el) => {
          el.checked = state.pair.includes(Number(el.dataset.seq));
        });
        explainButton.disabled = state.pair.length !== 2;
      } });
    box.dataset.seq = String(seq);
    return h("tr", {}, h("td", {}, box), h("td", { class: "num" }, seq), h("td", {}, report.title || ""),
      h("td", { class: "num" }, fmt.n2(report.severity)), h("td", {}, fmt.time(report.timestamp)));
  });
  const detail = document.getElementById("hypothesis-detail");
  detail.replaceChildren(
    h("h2", {}, h("span", { class: "swatch", style: { background: colourOf(x), display: "inline-block",
      width: "12px", height: "12px", marginRight: "6px" } }), x.title || "(untitled)"),
    h("p", { class: "muted" }, `${x.report_count} reports, confidence ${fmt.pct(x.confidence)}. ` +
      "Why they were grouped:"),
    h("div", { class: "chips", id: "rationale" }, x.rationale.length
      ? x.rationale.map((reason) => h("span", { class: "chip" }, reason))
      : h("span", { class: "muted" }, "no shared feature above one half")),
    h("table", { id: "members" },
      h("thead", {}, h("tr", {}, h("th", {}, "Compare"), h("th", { class: "num" }, "Seq"), h("th", {}, "Title"),
        h("th", { class: "num" }, "Severity"), h("th", {}, "Time"))),
      h("tbody", {}, rows)),
    h("div", { class: "row", style: { marginTop: ".5rem" } }, explainButton),
    h("div", { id: "explanation" }),
    h("h2", {}, "Case"),
    h("div", { id: "candidates" }, h("p", { class: "muted" }, "Looking for cases this hypothesis may belong to…")),
  );
  loadCandidates(x);
}

async function explain() {
  const [focal, neighbor] = state.pair;
  const e = await api.post("/clusters/explain-pair", { focal_seq: focal, neighbor_seq: neighbor,
    model: state.model.value, classification: state.classification.value });
  const features = Object.keys(e.kernels);
  const max = Math.max(e.threshold, ...Object.values(e.contributions), 0.01);
  document.getElementById("explanation").replaceChildren(
    h("h3", {}, `Reports ${focal} and ${neighbor}: score ${fmt.n2(e.score)} ` +
      `(${e.is_edge ? "linked" : "not linked"}; threshold ${fmt.n2(e.threshold)})`),
    h("table", { id: "explain-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Feature"), h("th", { class: "num" }, "Kernel"),
        h("th", { class: "num" }, "Contribution"), h("th", {}, ""))),
      h("tbody", {}, features.map((f) => h("tr", {},
        h("td", {}, fmt.words(f), e.unknown.includes(f) ? h("span", { class: "muted" }, " (unknown)") : null),
        h("td", { class: "num" }, fmt.n2(e.kernels[f])),
        h("td", { class: "num" }, fmt.n2(e.contributions[f] ?? 0)),
        h("td", { style: { width: "35%" } }, h("div", { class: "bar",
          style: { width: `${Math.max(0, (e.contributions[f] ?? 0) / max) * 100}%` } })))))),
    h("p", { class: "muted" }, `Distance ${fmt.metres(e.measures.distance_m)}, text overlap ` +
      `${fmt.pct(e.measures.jaccard ?? 0)}` +
      (e.shared_tokens.length ? `; shared words: ${e.shared_tokens.join(", ")}` : "") + "."),
  );
}

async function loadCandidates(x) {
  const box = document.getElementById("candidates");
  let candidates = [];
  try {
    candidates = (await api.post("/cases/match-cluster", { report_seqs: x.report_seqs, title: x.title,
      classification: state.classification.value })).candidate_cases;
  } catch (error) {
    box.replaceChildren(h("p", { class: "error" }, error.message));
    return;
  }
  const create = h("button", { type: "button", class: "primary", id: "create-case",
    onclick: () => busy(create, () => saveCase(x, { force_new_case: true })) }, "Create a new case");
  box.replaceChildren(
    candidates.length
      ? h("ul", { class: "list", id: "candidate-cases" }, candidates.slice(0, 8).map((c) => {
        const attach = h("button", { type: "button",
          onclick: () => busy(attach, () => saveCase(x, { existing_case_id: c.case_id })) },
          c.suggested_action === "reopen" ? "Reopen and attach" : "Attach");
        return h("li", { class: "case-item" },
          h("div", { class: "t" }, h("span", { class: `band ${c.band}` }, c.band), " ", c.title),
          h("div", { class: "m" }, `${c.status} · match ${fmt.n2(c.match_score)} · ${c.linked_report_count} reports` +
            (c.distance_m !== null && c.distance_m !== undefined ? ` · ${fmt.metres(c.distance_m)} away` : "")),
          h("div", { class: "chips" }, c.match_reasons.map((m) => h("span", { class: "chip" }, m))),
          attach);
      }))
      : h("p", { class: "muted" }, "No open case nearby shares these reports."),
    h("div", { class: "row" }, create),
  );
}

async function saveCase(x, choice) {
  const r = state.result;
  const body = {
    title: x.title || "Incident",
    summary: `${x.report_count} reports grouped by the ${r.model} model: ${x.rationale.join(", ") || "nearby"}.`,
    classification: r.classification,
    status: "open",
    anchor_report_seq: x.representative_report_seq,
    report_seqs: x.report_seqs,
    cluster_source_type: r.scope_type,
    cluster_stats: r.stats,
    cluster_analysis: { hypotheses: [x] },
    escalation_targets: r.suggested_targets,
    ...choice,
  };
  if (state.scope) body.geometry = state.scope;
  const saved = await api.post("/cases", body);
  toast(saved.action === "created" ? "Case created." : "Reports attached to the case.");
  location.hash = `#/cases/${saved.case.case_id}`;
}

export function focusMap() { getMap().getContainer().focus(); }
