// A case: metric cards, linked reports on the map with their link reasons, the open match
// suggestions to accept or reject, snapshots, the activity timeline, status changes along the lifecycle, add reports, merge, escalation
// targets by role, the draft composer with its preview, send, deliveries and the memo.
import { api, config } from "./api.js";
import { COLOURS, fitTo, getMap, outline, reportMarker, resetMap } from "./map.js";
import { openSuggestions, suggestionItem } from "./suggestions.js";
import { busy, field, fmt, h, statusBadge, toast } from "./ui.js";

const SUGGESTED = "#E69F00"; // the outline of suggested reports on the map
const LOCALES = [["", "Automatic (from the reports)"], ["en", "English"], ["de", "Deutsch"], ["fr", "Français"],
  ["it", "Italiano"], ["es", "Español"], ["pt", "Português"]];

export async function renderCase(main, caseId) {
  const layer = resetMap();
  main.replaceChildren(h("p", { class: "muted" }, "Loading the case…"));
  const [detail, escalations, suggestions] = await Promise.all([
    api.get(`/cases/${encodeURIComponent(caseId)}`),
    api.get(`/cases/${encodeURIComponent(caseId)}/escalations`),
    openSuggestions(caseId),
  ]);
  draw(main, layer, detail, escalations, suggestions);
}

function reload(main, caseId) { return renderCase(main, caseId); }

function parseJSON(text) { try { return text ? JSON.parse(text) : null; } catch { return null; } }

function draw(main, layer, d, esc, suggested) {
  const c = d.case;
  const caseId = c.case_id;
  // map: outline, linked reports coloured by link reason
  const reasons = [...new Set(d.linked_reports.map((r) => r.link_reason))];
  const geometry = parseJSON(c.geometry_json) || parseJSON(c.aggregate_geometry_json);
  if (geometry && geometry.type !== "Point") outline(geometry).addTo(layer);
  for (const r of d.linked_reports) {
    reportMarker(r, { colour: COLOURS[reasons.indexOf(r.link_reason) % COLOURS.length], radius: 8,
      title: `${r.seq}: ${r.title} (${fmt.words(r.link_reason)})` }).addTo(layer)
      .bindTooltip(String(r.seq), { permanent: true, direction: "right", className: "report-label" });
  }
  // suggested reports: hollow, dashed, labelled "seq?" (not part of the case yet)
  const suggestedMarkers = new Map();
  for (const s of suggested) {
    const marker = L.circleMarker([s.latitude, s.longitude], { radius: 8, color: SUGGESTED, weight: 2.5,
      dashArray: "3 3", fillColor: "#ffffff", fillOpacity: 0.9 })
      .bindTooltip(`${s.seq}?`, { permanent: true, direction: "right", className: "report-label" })
      .bindPopup(h("span", {}, `Suggested: ${s.seq}: ${s.report_title} (${s.band}, score ${fmt.n2(s.probability)})`))
      .addTo(layer);
    suggestedMarkers.set(s.id, marker);
  }
  fitTo(layer, 18);
  const showSuggested = (s) => {
    getMap().setView([s.latitude, s.longitude], Math.max(getMap().getZoom(), 17), { animate: false });
    suggestedMarkers.get(s.id)?.openPopup();
  };
  const suggestionsHeading = h("h2", { id: "suggestions-heading", tabindex: "-1" },
    `Match suggestions (${suggested.length})`);
  const afterDecision = async () => {
    await reload(main, caseId);
    document.getElementById("suggestions-heading")?.focus();
  };

  const allowed = config.status_transitions[c.status] || [];
  const statusSelect = h("select", { id: "new-status" }, allowed.map((s) => h("option", { value: s }, fmt.words(s))));
  const statusNote = h("input", { type: "text", id: "status-summary", placeholder: "Replaces the summary (optional)" });
  const statusButton = h("button", { type: "button", class: "primary", id: "change-status", disabled: !allowed.length,
    onclick: () => busy(statusButton, async () => {
      await api.post(`/cases/${caseId}/status`, { status: statusSelect.value, summary: statusNote.value });
      toast(`Status changed to ${fmt.words(statusSelect.value)}.`);
      await reload(main, caseId);
    }) }, "Change status");

  const addSeqs = h("input", { type: "text", id: "add-seqs", placeholder: "e.g. 103, 104" });
  const addReason = h("input", { type: "text", id: "add-reason", value: "manual" });
  const addButton = h("button", { type: "button", id: "add-reports", onclick: () => busy(addButton, async () => {
    const seqs = addSeqs.value.split(/[\s,;]+/).filter(Boolean).map(Number);
    if (!seqs.length || seqs.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error("List report numbers, e.g. 103, 104.");
    await api.post(`/cases/${caseId}/reports`, { report_seqs: seqs, link_reason: addReason.value });
    toast(`Linked ${seqs.length} report${seqs.length === 1 ? "" : "s"}.`);
    await reload(main, caseId);
  }) }, "Add reports");

  const mergeIds = h("input", { type: "text", id: "merge-ids", placeholder: "case_…, case_…" });
  const mergeButton = h("button", { type: "button", class: "danger", id: "merge", onclick: () => busy(mergeButton, async () => {
    const ids = mergeIds.value.split(/[\s,;]+/).filter(Boolean);
    if (!ids.length) throw new Error("List the cases to merge into this one.");
    await api.post("/cases/merge", { target_case_id: caseId, source_case_ids: ids });
    toast(`Merged ${ids.length} case${ids.length === 1 ? "" : "s"} into this one.`);
    await reload(main, caseId);
  }) }, "Merge into this case");

  // targets grouped by role, each with a checkbox for the composer
  const byRole = new Map();
  for (const t of esc.targets) byRole.set(t.role_type || "other", [...(byRole.get(t.role_type || "other") || []), t]);
  const targetBoxes = [];
  const targets = [...byRole.entries()].sort().map(([role, list]) => h("div", {},
    h("h3", { class: "role" }, fmt.words(role)),
    h("ul", { class: "list" }, list.map((t) => {
      const box = h("input", { type: "checkbox", value: String(t.id), checked: Boolean(t.email), disabled: !t.email });
      targetBoxes.push(box);
      return h("li", {}, h("label", { class: "inline" }, box,
        `${t.organization || t.display_name || "—"} ‹${t.email || t.website || t.phone || "no e-mail"}›`,
        h("span", { class: "muted" }, ` · confidence ${fmt.n2(t.confidence_score)} · ${fmt.words(t.channel)}`)));
    }))));

  const locale = h("select", { id: "locale" }, LOCALES.map(([v, label]) => h("option", { value: v }, label)));
  const subject = h("input", { type: "text", id: "subject" });
  const cc = h("input", { type: "text", id: "cc", placeholder: "name@example.org, …" });
  const body = h("textarea", { id: "body" });
  const attachMemo = h("input", { type: "checkbox", id: "attach-memo", checked: true });
  const preview = h("div", { id: "preview" });
  const composerRequest = () => ({
    target_ids: targetBoxes.filter((b) => b.checked).map((b) => Number(b.value)),
    cc_emails: cc.value.split(/[\s,;]+/).filter(Boolean),
    locale: locale.value || undefined,
    subject: subject.value || undefined,
    body: body.value || undefined,
  });
  const draftButton = h("button", { type: "button", id: "preview-draft", onclick: () => busy(draftButton, async () => {
    const draft = await api.post(`/cases/${caseId}/escalations/draft`, composerRequest());
    subject.value = draft.subject;
    body.value = draft.body;
    if (!locale.value) locale.value = draft.locale;
    preview.replaceChildren(h("div", { class: "preview", "aria-label": "Draft preview" },
      h("div", { class: "muted" }, `To: ${draft.targets.map((t) => t.email).filter(Boolean).join(", ") || "—"}` +
        (draft.cc_emails.length ? ` · CC: ${draft.cc_emails.join(", ")}` : "") +
        ` · ${draft.locale} (${fmt.words(draft.locale_source)})`),
      h("div", { class: "subject" }, draft.subject), h("pre", {}, draft.body)));
  }) }, "Preview draft");
  const sendButton = h("button", { type: "button", class: "primary", id: "send", onclick: () => busy(sendButton, async () => {
    const request = { ...composerRequest(), attach_memo: attachMemo.checked };
    if (!request.target_ids.length) throw new Error("Choose at least one recipient.");
    const sent = await api.post(`/cases/${caseId}/escalations/send`, request,
      { headers: { "Idempotency-Key": crypto.randomUUID() } });
    const ok = sent.deliveries.filter((x) => x.delivery_status === "sent").length;
    toast(`Sent to ${ok} of ${sent.deliveries.length} recipient${sent.deliveries.length === 1 ? "" : "s"}` +
      (sent.skipped.length ? ` (${sent.skipped.length} skipped: already sent)` : "") + ".",
    { error: ok < sent.deliveries.length });
    await reload(main, caseId);
  }) }, "Send");

  const memoButton = h("button", { type: "button", id: "download-memo", onclick: () => busy(memoButton, async () => {
    const response = await api.get(`/cases/${caseId}/memo.pdf`, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: `case-memo-${c.slug}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }) }, "Download memo (PDF)");
  const memoPage = h("button", { type: "button", id: "open-memo", onclick: () => busy(memoPage, async () => {
    const response = await api.get(`/cases/${caseId}/memo.html`, { raw: true });
    window.open(URL.createObjectURL(await response.blob()), "_blank", "noopener");
  }) }, "Open memo");

  const deliveries = esc.deliveries;
  main.replaceChildren(
    h("p", { class: "muted" }, h("a", { href: "#/cases" }, "← All cases"), ` · ${caseId}`),
    h("h1", { id: "case-title" }, c.title),
    h("div", { class: "cards", id: "metrics" },
      [["Status", statusBadge(c.status)], ["Reports", c.linked_report_count], ["Severity", fmt.n2(c.severity_score)],
        ["Urgency", fmt.n2(c.urgency_score)]].map(([label, value]) =>
        h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value)))),
    h("p", {}, c.summary || h("span", { class: "muted" }, "No summary.")),
    h("div", { class: "row" }, memoButton, memoPage),
    h("h2", {}, "Status"),
    allowed.length
      ? h("div", { class: "row" }, field("New status", statusSelect), field("New summary", statusNote), statusButton)
      : h("p", { class: "muted" }, `A ${c.status} case cannot change status.`),
    h("h2", {}, `Linked reports (${d.linked_reports.length})`),
    h("table", { id: "linked-reports" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Seq"), h("th", {}, "Title"), h("th", { class: "num" }, "Severity"),
        h("th", {}, "Time"), h("th", {}, "Link reason"))),
      h("tbody", {}, d.linked_reports.map((r) => h("tr", {},
        h("td", { class: "num" }, r.seq), h("td", {}, r.title), h("td", { class: "num" }, fmt.n2(r.severity_level)),
        h("td", {}, fmt.time(r.report_timestamp)),
        h("td", {}, h("span", { class: "swatch", style: { display: "inline-block", width: "10px", height: "10px",
          marginRight: "4px", background: COLOURS[reasons.indexOf(r.link_reason) % COLOURS.length] } }),
        `${fmt.words(r.link_reason)} (${fmt.n2(r.confidence)})`))))),
    h("div", { class: "row" }, field("Add reports (seqs)", addSeqs), field("Link reason", addReason), addButton),
    suggestionsHeading,
    suggested.length
      ? h("ul", { class: "list suggestions", id: "suggestions", "aria-labelledby": "suggestions-heading" },
        suggested.map((s) => suggestionItem(s, { onShow: showSuggested, onDecided: afterDecision })))
      : h("p", { class: "muted", id: "suggestions" }, "No open suggestions: automatic matching has nothing to ask."),
    h("h2", {}, "Escalation"),
    targets.length ? h("div", { id: "targets" }, targets) : h("p", { class: "muted" }, "No escalation targets."),
    h("fieldset", { id: "composer" }, h("legend", {}, "Draft"),
      h("div", { class: "row" }, field("Language", locale), field("CC", cc)),
      field("Subject", subject), field("Body", body, "Leave subject and body empty to get the generated draft."),
      h("label", { class: "inline", for: "attach-memo", style: { marginTop: ".5rem" } }, attachMemo,
        "Attach the case memo (PDF)"),
      h("div", { class: "row", style: { marginTop: ".5rem" } }, draftButton, sendButton), preview),
    h("h2", {}, `Deliveries (${deliveries.length})`),
    deliveries.length
      ? h("table", { id: "deliveries" },
        h("thead", {}, h("tr", {}, h("th", {}, "Recipient"), h("th", {}, "State"), h("th", {}, "Provider"), h("th", {}, "Sent"))),
        h("tbody", {}, deliveries.map((x) => h("tr", {}, h("td", {}, x.recipient_email),
          h("td", { class: `delivery-${x.delivery_status}` }, x.delivery_status + (x.error_message ? ` — ${x.error_message}` : "")),
          h("td", {}, x.provider), h("td", {}, fmt.time(x.sent_at))))))
      : h("p", { class: "muted" }, "Nothing sent yet."),
    h("h2", {}, `Cluster snapshots (${d.clusters.length})`),
    h("ul", { class: "list" }, d.clusters.map((k) => h("li", {}, `${fmt.time(k.created_at)} · ${fmt.words(k.source_type)} · ` +
      `${k.report_count} reports · ${fmt.words(k.match_reason)} (${fmt.n2(k.match_score)})`))),
    h("h2", {}, "Merge"),
    h("div", { class: "row" }, field("Cases to merge into this one", mergeIds), mergeButton),
    h("h2", {}, "Activity"),
    h("ol", { class: "timeline", id: "timeline" }, [...d.audit_events].reverse().map((e) => h("li", {},
      h("time", {}, fmt.time(e.created_at)), fmt.words(e.event_type),
      e.actor_user_id ? h("span", { class: "muted" }, ` by ${e.actor_user_id}`) : null, detailOf(e)))),
  );
}

function detailOf(event) {
  const p = parseJSON(event.payload_json) || {};
  const parts = [];
  // Status changes name from_status/to_status (the web client's keys).
  const from = p.from_status || p.previous_status;
  const to = p.to_status || p.status;
  if (from && to) parts.push(`${from} → ${to}`);
  else if (to) parts.push(to);
  if (Array.isArray(p.report_seqs) && p.report_seqs.length) parts.push(`reports ${p.report_seqs.join(", ")}`);
  else if (Number.isInteger(p.seq)) parts.push(`report ${p.seq}`); // suggestions, recurrences
  if (p.match?.band) parts.push(`${p.match.band} band`);
  if (p.summary) parts.push(`“${p.summary}”`);
  if (p.reason) parts.push(p.reason);
  if (p.note) parts.push(`note: “${p.note}”`);
  return parts.length ? h("div", { class: "muted" }, parts.join(" · ")) : null;
}
