// The one Leaflet map of the workspace: a basemap only when configured, layers per page,
// and a polygon drawing tool (click the corners; Enter or "Finish" closes it).
import { config } from "./api.js";
import { h } from "./ui.js";

/** Colours of hypotheses (Okabe–Ito, colour-blind safe; the memo and notebooks use them too). */
export const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
  "#8C564B", "#000000", "#7F7F7F", "#BCBD22"];
export const GREY = "#8d96a0";

let map = null;
let layers = null;
let drawing = null;

export function getMap() {
  if (map) return map;
  map = L.map("map", { zoomControl: true, attributionControl: true, keyboard: true })
    .setView([47.3769, 8.5417], 14);
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(map);
  } else {
    map.attributionControl.addAttribution("No basemap (WORKSPACE_TILE_URL is not set)");
  }
  L.control.scale({ imperial: false }).addTo(map);
  layers = L.featureGroup().addTo(map);
  return map;
}

/** Clear the page's layers and tools; return the layer group to draw in. */
export function resetMap() {
  getMap();
  stopDrawing();
  layers.clearLayers();
  tools().replaceChildren();
  return layers;
}

export function tools() { return document.getElementById("map-tools"); }

export function fitTo(group, maxZoom = 17) {
  const bounds = group.getBounds?.();
  if (bounds && bounds.isValid()) map.fitBounds(bounds.pad(0.15), { maxZoom, animate: false });
}

export function reportMarker(report, { colour = GREY, radius = 6, title = "" } = {}) {
  return L.circleMarker([report.latitude, report.longitude], {
    radius, color: "#ffffff", weight: 1.5, fillColor: colour, fillOpacity: 0.95,
  }).bindTooltip(h("span", {}, title || `Report ${report.seq}`)); // text, never HTML: titles are reporters' words
}

export function outline(geojson, { colour = "#3a6ea5", dashed = true, fill = 0.06 } = {}) {
  return L.geoJSON(geojson, {
    style: { color: colour, weight: 2, dashArray: dashed ? "6 5" : null, fillOpacity: fill },
    interactive: false,
  });
}

/** The visible map area as a GeoJSON Polygon (a keyboard-usable scope). */
export function viewPolygon() {
  const b = getMap().getBounds();
  const [w, s, e, n] = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
  return { type: "Polygon", coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

export function stopDrawing() {
  if (!drawing) return;
  map.off("click", drawing.onClick);
  map.off("dblclick", drawing.onDoubleClick);
  document.removeEventListener("keydown", drawing.onKey);
  map.doubleClickZoom.enable();
  map.getContainer().style.cursor = "";
  drawing.layer.remove();
  drawing = null;
}

/** Let the person draw a polygon; ``onDone(geojson)`` gets it closed. */
export function startDrawing(onDone) {
  stopDrawing();
  const m = getMap();
  const points = [];
  const layer = L.layerGroup().addTo(m);
  const status = h("span", { class: "hint", "aria-live": "polite" },
    "Click the map to add corners; Enter or “Finish polygon” closes it.");
  const finish = h("button", { type: "button", class: "primary", disabled: true, onclick: () => done() },
    "Finish polygon");
  const undo = h("button", { type: "button", onclick: () => { points.pop(); redraw(); } }, "Undo corner");
  const cancel = h("button", { type: "button", onclick: () => { stopDrawing(); tools().replaceChildren(); } },
    "Cancel");
  tools().replaceChildren(status, finish, undo, cancel);
  function redraw() {
    layer.clearLayers();
    if (points.length) L.polyline(points, { color: "#0b5cad", weight: 2 }).addTo(layer);
    if (points.length > 2) L.polygon(points, { color: "#0b5cad", weight: 1, fillOpacity: 0.08, dashArray: "4 4" }).addTo(layer);
    for (const p of points) L.circleMarker(p, { radius: 4, color: "#0b5cad", fillOpacity: 1 }).addTo(layer);
    finish.disabled = points.length < 3;
    status.textContent = `${points.length} corner${points.length === 1 ? "" : "s"}` +
      (points.length < 3 ? " — add at least 3." : " — Enter or “Finish polygon” closes it.");
  }
  function done() {
    if (points.length < 3) return;
    const ring = points.map((p) => [p.lng, p.lat]);
    ring.push(ring[0]);
    const geometry = { type: "Polygon", coordinates: [ring] };
    stopDrawing();
    tools().replaceChildren();
    onDone(geometry);
  }
  drawing = {
    layer,
    onClick: (event) => { points.push(event.latlng); redraw(); },
    onDoubleClick: () => done(),
    onKey: (event) => {
      if (event.key === "Enter" && points.length >= 3) { event.preventDefault(); done(); }
      if (event.key === "Escape") { stopDrawing(); tools().replaceChildren(); }
    },
  };
  m.doubleClickZoom.disable();
  m.getContainer().style.cursor = "crosshair";
  m.on("click", drawing.onClick);
  m.on("dblclick", drawing.onDoubleClick);
  document.addEventListener("keydown", drawing.onKey);
}
