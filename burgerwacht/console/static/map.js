// Area GeoJSON (WGS84, from the API) drawn as SVG: no tile server, no library.
//
// Projection: equirectangular around the data's mean latitude (x = lon·cos φ0, y = −lat),
// so circles stay round and a metre is the same length in every direction at
// municipality scale. The SVG viewBox is in those projected degrees; METRES_PER_DEGREE
// turns radii into map units.

const SVG_NS = "http://www.w3.org/2000/svg";
export const METRES_PER_DEGREE = 111320;

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
 * An SVG map of area features. Options: {container, features, label}.
 * Methods: project([lon, lat]) → [x, y]; unproject([x, y]) → [lon, lat];
 * toMap(event) → [x, y]; pathOf(feature); the layers .areas, .overlay, .labels.
 */
export class AreaMap {
  constructor(container, features, { label = "Kaart", title } = {}) {
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
  }

  project([lon, lat]) {
    return [lon * this.cos, -lat];
  }

  unproject([x, y]) {
    return [x / this.cos, -y];
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
