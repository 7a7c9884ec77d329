// Match suggestions: the reports automatic matching asks a person to decide (POST /reports
// put them in the review band, or found a recurrence at a resolved case). A case's open ones
// on its page, every case's in the reviewer queue of the case list; Accept links the report
// (and reopens the case for a recurrence), Reject leaves it where it is.
import { api } from "./api.js";
import { busy, fmt, h, toast } from "./ui.js";

/** The open suggestions of one case, or of every case (the reviewer queue, oldest first). */
export async function openSuggestions(caseId) {
  const path = caseId
    ? `/cases/${encodeURIComponent(caseId)}/suggestions?status=open`
    : "/cases/suggestions?status=open&limit=100";
  return (await api.get(path)).suggestions;
}

/** Where the report is on the Analyse map, with its seq ready for "Analyse around report". */
export function analyseLink(s) {
  return `#/analyse?at=${s.latitude.toFixed(6)},${s.longitude.toFixed(6)},18&seq=${s.seq}`;
}

function what(s) {
  return s.kind === "reopen" ? `reopen this ${s.case_status} case and link the report` : "link the report to the case";
}

/**
 * One suggestion: the report, band and score, the reasons, the links and the two decisions.
 * ``onShow(s)`` (optional) shows the report on the current map; ``onDecided(answer, accepted)``
 * runs after the service took the decision.
 */
export function suggestionItem(s, { showCase = false, onShow, onDecided }) {
  const label = `report ${s.seq}` + (showCase ? ` for “${s.case_title}”` : "");
  const decide = (button, accepted) => busy(button, async () => {
    const answer = await api.post(
      `/cases/${encodeURIComponent(s.case_id)}/suggestions/${s.id}/${accepted ? "accept" : "reject"}`, {});
    toast(accepted
      ? `Report ${s.seq} linked to “${s.case_title}”${s.kind === "reopen" ? "; the case is open again" : ""}.`
      : `Suggestion of report ${s.seq} rejected.`);
    await onDecided(answer, accepted);
  });
  const accept = h("button", { type: "button", class: "primary", "aria-label": `Accept ${label}`,
    title: `Accept: ${what(s)}`, onclick: () => decide(accept, true) }, "Accept");
  const reject = h("button", { type: "button", "aria-label": `Reject ${label}`,
    title: "Reject: the report stays where it is", onclick: () => decide(reject, false) }, "Reject");
  const show = onShow
    ? h("button", { type: "button", "aria-label": `Show report ${s.seq} on the map`, onclick: () => onShow(s) },
      "Show on map")
    : null;
  return h("li", { class: "suggestion", id: `suggestion-${s.id}`, "data-seq": String(s.seq) },
    showCase
      ? h("div", { class: "case-of" }, "Case ", h("a", { href: `#/cases/${encodeURIComponent(s.case_id)}` }, s.case_title),
        " ", h("span", { class: "muted" }, `(${fmt.words(s.case_status)})`))
      : null,
    h("div", { class: "t" }, `Report ${s.seq}: ${s.report_title || "untitled"}`),
    h("div", { class: "m" }, h("span", { class: `band ${s.band}` }, s.band),
      ` score ${fmt.n2(s.probability)} · ${s.kind === "reopen" ? "recurrence: reopen" : "attach"} · suggested ` +
      `${fmt.time(s.created_at)}`),
    s.match_reasons.length
      ? h("ul", { class: "chips", "aria-label": "Why it matches" }, s.match_reasons.map((r) => h("li", { class: "chip" }, r)))
      : null,
    h("div", { class: "row" }, accept, reject, show,
      h("a", { href: analyseLink(s), class: "button", "aria-label": `Analyse around report ${s.seq}` }, "Analyse around it")),
  );
}
