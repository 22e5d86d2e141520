// Area GeoJSON (WGS84, from the API) drawn as SVG, optionally over a tiled base map.
//
// Projection: Web Mercator scaled by cos φ0 around the data's mean latitude
// (x = lon·cos φ0, y = −merc(lat)·cos φ0, merc in degrees), so circles stay round, a
// metre is the same length in every direction at municipality scale (1 map unit =
// METRES_PER_DEGREE metres at φ0), and the drawing lines up exactly with Web Mercator
// tiles. The SVG viewBox is in those projected degrees.
//
// Base map: with {base: true} and a tile source in GET /console/config, a Leaflet map
// (vendored, loaded by the page as a classic script: window.L) sits under the SVG and is
// kept at exactly the SVG's extent and scale; the SVG stays the drawing and pointer
// layer, so placing a circle works the same with or without it. When Leaflet is
// missing or no tile loads (offline), the base is removed and a note says so: the
// outlines alone remain, as before.

const SVG_NS = "http://www.w3.org/2000/svg";
export const METRES_PER_DEGREE = 111320;
const RAD = Math.PI / 180;
const TILE_TIMEOUT_MS = 8000; // no tile by then: fall back to the outlines
export const BASE_UNAVAILABLE = "Kaartachtergrond niet beschikbaar";

const mercY = (lat) => Math.log(Math.tan(Math.PI / 4 + (lat * RAD) / 2)) / RAD;
const mercLat = (y) => (2 * Math.atan(Math.exp(y * RAD)) - Math.PI / 2) / RAD;

let configPromise = null;
/** GET /console/config once per page (null when it cannot be read). */
export function consoleConfig() {
  if (!configPromise) {
    configPromise = fetch("/console/config", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
  }
  return configPromise;
}

function entitiesToText(text) {
  // the attribution is plain text with entities (&copy;): decode without running markup
  return new DOMParser().parseFromString(`<p>${text}</p>`, "text/html").body.textContent || "";
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  return node;
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

/**
 * An SVG map of area features. Options: {label, title, base}; with base: true a tiled
 * base map under it when configured (``baseReady`` resolves with "tiles", "off" or
 * "unavailable"; the container's data-base says the same).
 * Methods: project([lon, lat]) → [x, y]; unproject([x, y]) → [lon, lat];
 * toMap(event) → [x, y]; pathOf(feature); the layers .areas, .overlay, .labels.
 */
export class AreaMap {
  constructor(container, features, { label = "Kaart", title, base = false } = {}) {
    this.container = container;
    this.features = features;
    let minLon = Infinity;
    let minLat = Infinity;
    let maxLon = -Infinity;
    let maxLat = -Infinity;
    for (const f of features) {
      for (const ring of rings(f.geometry)) {
        for (const [lon, lat] of ring) {
          minLon = Math.min(minLon, lon);
          maxLon = Math.max(maxLon, lon);
          minLat = Math.min(minLat, lat);
          maxLat = Math.max(maxLat, lat);
        }
      }
    }
    if (!Number.isFinite(minLon)) [minLon, minLat, maxLon, maxLat] = [3.3, 50.7, 7.2, 53.6];
    this.cos = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
    const [x0, y0] = this.project([minLon, maxLat]);
    const [x1, y1] = this.project([maxLon, minLat]);
    const pad = Math.max(x1 - x0, y1 - y0) * 0.04;
    this.box = { x: x0 - pad, y: y0 - pad, w: x1 - x0 + 2 * pad, h: y1 - y0 + 2 * pad };
    this.el = svg("svg", {
      viewBox: `${this.box.x} ${this.box.y} ${this.box.w} ${this.box.h}`,
      class: "map",
      role: "img",
      "aria-label": label,
      preserveAspectRatio: "xMidYMid meet",
    });
    if (title) this.el.append(Object.assign(svg("title"), { textContent: title }));
    this.defs = svg("defs");
    this.defs.innerHTML =
      '<pattern id="hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">' +
      '<rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#8a8a8a" stroke-width="2"/>' +
      "</pattern>";
    // pattern units are in map units: scale the hatch to a few pixels
    const unit = this.box.w / 600;
    this.defs.firstChild.setAttribute("width", 6 * unit);
    this.defs.firstChild.setAttribute("height", 6 * unit);
    this.defs.firstChild.firstChild.setAttribute("width", 6 * unit);
    this.defs.firstChild.firstChild.setAttribute("height", 6 * unit);
    const line = this.defs.firstChild.lastChild;
    line.setAttribute("y2", 6 * unit);
    line.setAttribute("stroke-width", 2 * unit);
    this.unit = unit;
    this.el.append(this.defs);
    this.areas = svg("g", { class: "areas" });
    this.labels = svg("g", { class: "labels", "aria-hidden": "true" });
    this.overlay = svg("g", { class: "overlay" });
    this.reach = svg("g", { class: "reach-layer" });
    this.el.append(this.areas, this.reach, this.overlay, this.labels);
    this.paths = new Map();
    for (const f of features) {
      const path = svg("path", {
        d: this.pathOf(f),
        class: "area",
        "fill-rule": "evenodd",
        "stroke-width": unit * 1.2,
        "data-code": f.properties.code || f.properties.area_code,
      });
      this.paths.set(path.dataset.code, path);
      this.areas.append(path);
    }
    container.replaceChildren(this.el);
    container.classList.remove("with-base", "base-loaded");
    container.dataset.base = "off";
    this.leaflet = null;
    this.baseReady = base ? this.attachBase() : Promise.resolve("off");
  }

  project([lon, lat]) {
    return [lon * this.cos, -mercY(lat) * this.cos];
  }

  unproject([x, y]) {
    return [x / this.cos, mercLat(-y / this.cos)];
  }

  /** The tiled base map under the SVG (see the top of this file). */
  async attachBase() {
    const config = await consoleConfig();
    const cfg = config && config.map;
    if (!this.el.isConnected || !cfg || !cfg.tiles_url) return "off";
    const L = window.L;
    if (!L || typeof L.map !== "function") return this.baseUnavailable();
    const div = document.createElement("div");
    div.className = "map-base";
    div.setAttribute("aria-hidden", "true");
    this.container.prepend(div);
    this.container.classList.add("with-base");
    this.container.dataset.base = "loading";
    let map;
    try {
      map = L.map(div, {
        zoomControl: false,
        attributionControl: false,
        dragging: false,
        touchZoom: false,
        scrollWheelZoom: false,
        doubleClickZoom: false,
        boxZoom: false,
        keyboard: false,
        trackResize: false,
        zoomSnap: 0,
        zoomAnimation: false,
        fadeAnimation: false,
        markerZoomAnimation: false,
        inertia: false,
      });
    } catch {
      div.remove();
      return this.baseUnavailable();
    }
    this.leaflet = map;
    this.syncBase(600);
    const layer = L.tileLayer(cfg.tiles_url, {
      maxNativeZoom: cfg.tiles_max_zoom,
      maxZoom: 24,
      referrerPolicy: "no-referrer",
    });
    return new Promise((resolve) => {
      let loaded = 0;
      let settled = false;
      let timer = null;
      const shown = () => this.el.getBoundingClientRect().width > 0;
      // the clock starts when the map is on screen (a hidden view loads no tiles)
      const arm = () => {
        if (!timer && !settled && shown()) timer = setTimeout(fail, TILE_TIMEOUT_MS);
      };
      const observer = new ResizeObserver(() => {
        if (!this.el.isConnected) {
          observer.disconnect();
          if (this.leaflet === map) map.remove();
          this.leaflet = null;
          return;
        }
        this.syncBase();
        arm();
      });
      const fail = () => {
        if (settled || loaded) return;
        settled = true;
        clearTimeout(timer);
        observer.disconnect();
        map.remove();
        div.remove();
        this.leaflet = null;
        resolve(this.baseUnavailable());
      };
      layer.on("tileload", () => {
        loaded += 1;
        if (settled || !this.el.isConnected) return;
        settled = true;
        clearTimeout(timer);
        this.container.classList.add("base-loaded");
        this.container.dataset.base = "tiles";
        const credit = entitiesToText(cfg.tiles_attribution || "");
        if (credit) {
          this.container.append(Object.assign(document.createElement("p"), { className: "map-attribution", textContent: credit }));
        }
        resolve("tiles");
      });
      layer.on("load", () => {
        // every tile of the view answered, none with an image (removed after Leaflet's
        // own handling of this event has finished)
        if (!loaded) setTimeout(fail, 0);
      });
      observer.observe(this.el);
      layer.addTo(map);
      arm();
    });
  }

  baseUnavailable() {
    if (!this.el.isConnected) return "unavailable";
    this.container.classList.remove("with-base", "base-loaded");
    this.container.dataset.base = "unavailable";
    const note = document.createElement("p");
    note.className = "map-note";
    note.textContent = BASE_UNAVAILABLE;
    this.container.append(note);
    return "unavailable";
  }

  /** Keep the base map at the SVG's extent and scale (viewBox fitted with "meet"). */
  syncBase(fallbackWidth) {
    if (!this.leaflet) return;
    const rect = this.el.getBoundingClientRect();
    let width = rect.width;
    let height = rect.height;
    if (!width || !height) {
      if (!fallbackWidth) return;
      [width, height] = [fallbackWidth, (fallbackWidth * this.box.h) / this.box.w];
    }
    const scale = Math.min(width / this.box.w, height / this.box.h); // pixels per map unit
    // Leaflet: 256·2^z pixels per 360° of longitude; here scale·cos φ0 pixels per degree
    const zoom = Math.log2((scale * this.cos * 360) / 256);
    const [lon, lat] = this.unproject([this.box.x + this.box.w / 2, this.box.y + this.box.h / 2]);
    this.leaflet.invalidateSize({ animate: false, pan: false });
    this.leaflet.setView([lat, lon], zoom, { animate: false });
  }

  /** Metres → map units (at the map's latitude). */
  metres(m) {
    return m / METRES_PER_DEGREE;
  }

  pathOf(feature) {
    return rings(feature.geometry)
      .map(
        (ring) =>
          "M" +
          ring
            .map((pt) => {
              const [x, y] = this.project(pt);
              return `${x.toFixed(6)},${y.toFixed(6)}`;
            })
            .join("L") +
          "Z",
      )
      .join("");
  }

  /**
   * Draw an alert's area as the API gives it (``area`` of an alert or a preview: a
   * GeoJSON Feature in WGS84) whatever the target type: its geometry as a path, and the
   * map's areas named in ``properties.codes`` (CBS areas) marked. It has its own layer;
   * ``null`` clears it.
   */
  showArea(feature, className = "target") {
    this.reach.replaceChildren();
    for (const path of this.paths.values()) path.classList.remove("reached");
    if (!feature) return;
    if (feature.geometry) {
      this.reach.append(
        svg("path", { d: this.pathOf(feature), class: className, "fill-rule": "evenodd", "stroke-width": this.unit * 2 }),
      );
    }
    const codes = (feature.properties && feature.properties.codes) || [];
    for (const f of this.features) {
      const p = f.properties;
      if (codes.length && [p.code, p.district_code, p.municipality_code].some((c) => c && codes.includes(c))) {
        const path = this.paths.get(p.code || p.area_code);
        if (path) path.classList.add("reached");
      }
    }
  }

  /**
   * Add a feature (GeoJSON, WGS84) to the area layer without clearing it: a wave's
   * area beside the alert's own. ``attrs`` are SVG presentation attributes.
   */
  addShape(feature, attrs = {}) {
    if (!feature || !feature.geometry) return null;
    const path = svg("path", { d: this.pathOf(feature), "fill-rule": "evenodd", "stroke-width": this.unit * 1.5, ...attrs });
    this.reach.append(path);
    return path;
  }

  /** A circle of ``radius`` metres around [lon, lat] as an SVG node (not yet added). */
  circleAt([lon, lat], radius, attrs = {}) {
    const [x, y] = this.project([lon, lat]);
    return svg("circle", { cx: x, cy: y, r: this.metres(radius), "stroke-width": this.unit * 2, ...attrs });
  }

  /** Distance in metres between two [lon, lat] points (at the map's scale). */
  distance(a, b) {
    const [x0, y0] = this.project(a);
    const [x1, y1] = this.project(b);
    return Math.hypot(x1 - x0, y1 - y0) * METRES_PER_DEGREE;
  }

  /** Pointer event → map coordinates. */
  toMap(event) {
    const pt = this.el.createSVGPoint();
    pt.x = event.clientX;
    pt.y = event.clientY;
    const p = pt.matrixTransform(this.el.getScreenCTM().inverse());
    return [p.x, p.y];
  }

  /** The centre of a feature's largest ring (for labels). */
  centreOf(feature) {
    let best = null;
    let bestArea = -1;
    for (const ring of rings(feature.geometry)) {
      const pts = ring.map((p) => this.project(p));
      let a = 0;
      let cx = 0;
      let cy = 0;
      for (let i = 0; i < pts.length - 1; i++) {
        const [x0, y0] = pts[i];
        const [x1, y1] = pts[i + 1];
        const c = x0 * y1 - x1 * y0;
        a += c;
        cx += (x0 + x1) * c;
        cy += (y0 + y1) * c;
      }
      if (Math.abs(a) > bestArea && a !== 0) {
        bestArea = Math.abs(a);
        best = [cx / (3 * a), cy / (3 * a)];
      }
    }
    return best;
  }

  addLabels(textOf) {
    this.labels.replaceChildren();
    for (const f of this.features) {
      const c = this.centreOf(f);
      const text = textOf(f);
      if (!c || !text) continue;
      const lines = String(text).split("\n");
      const node = svg("text", {
        x: c[0],
        y: c[1] - ((lines.length - 1) * 6 * this.unit) / 2,
        "font-size": 11 * this.unit,
        "stroke-width": 3 * this.unit,
        "text-anchor": "middle",
        "dominant-baseline": "middle",
      });
      lines.forEach((line, i) => {
        const span = svg("tspan", { x: c[0], dy: i === 0 ? 0 : 13 * this.unit });
        span.textContent = line;
        if (i > 0) span.setAttribute("class", "sub");
        node.append(span);
      });
      this.labels.append(node);
    }
  }
}

/** Point in polygon (ray casting) on [lon, lat] rings; holes via even-odd. */
export function pointInFeature([lon, lat], feature) {
  let inside = false;
  for (const ring of rings(feature.geometry)) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
  }
  return inside;
}
