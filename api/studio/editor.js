// The layout editor: regions drawn as SVG over a canvas of the layout's size (viewBox in canvas pixels).
// Boxes are kept as the API keeps them, normalised [x0, y0, x1, y1] with the origin top-left; a mask region
// keeps an offscreen <canvas> of the layout's size (white = the region) and is sent as a base64 PNG.

export const TOKEN_PX = 16; // FLUX's pixels per latent token (regional/raster.py): the grid regions snap to

const PALETTE = [
  "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#0e9aa7", "#f032e6", "#6b8e23",
  "#9a6324", "#800000", "#000075", "#808000", "#e6a400", "#469990", "#c71585", "#2f4f4f",
];
export const colour = (index) => PALETTE[index % PALETTE.length];

const SVG_NS = "http://www.w3.org/2000/svg";
const MIN_SIDE = 16, MAX_SIDE = 4096; // what the editor can draw; the API checks its own limits

export function svgEl(name, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (parent) parent.appendChild(el);
  return el;
}

const round6 = (v) => Math.round(v * 1e6) / 1e6;
const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
const base64Of = (canvas) => canvas.toDataURL("image/png").split(",")[1];

export function maskSource(mask) {
  return mask.startsWith("data:") ? mask : `data:image/png;base64,${mask}`;
}

function blankMask(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, width, height);
  return canvas;
}

async function maskFromPng(mask, width, height) {
  const image = new Image();
  image.src = maskSource(mask);
  await image.decode();
  const canvas = blankMask(width, height);
  canvas.getContext("2d").drawImage(image, 0, 0, width, height); // any size, stretched to the canvas
  return canvas;
}

let nextId = 1;

export class Region {
  constructor({ phrase = "", prompt = "", box = null, mask = null }) {
    this.id = nextId++;
    this.phrase = phrase;
    this.prompt = prompt;
    this.box = box; // [x0, y0, x1, y1] normalised, or null for a mask region
    this.mask = mask; // a <canvas> of the layout's size, or null for a box region
    this.maskUrl = null; // the mask as a PNG data URL, for display (refreshed while painting)
    this.maskCells = null; // the mask's mean value per token cell, for the overlap display
    this.bounds = null; // the painted part's bounding box, normalised, for the label and the outline
  }

  get label() {
    return this.phrase.trim() || this.prompt.trim() || "(no prompt)";
  }
}

// Share of each token cell that a region covers, as the sampler measures membership (area coverage).
function cellCoverage(region, width, height) {
  const cols = Math.floor(width / TOKEN_PX), rows = Math.floor(height / TOKEN_PX);
  const cover = new Float32Array(cols * rows);
  if (region.box) {
    const [x0, y0, x1, y1] = [region.box[0] * width, region.box[1] * height, region.box[2] * width, region.box[3] * height];
    for (let r = Math.floor(y0 / TOKEN_PX); r < Math.min(rows, Math.ceil(y1 / TOKEN_PX)); r++) {
      const dy = Math.min(y1, (r + 1) * TOKEN_PX) - Math.max(y0, r * TOKEN_PX);
      for (let c = Math.floor(x0 / TOKEN_PX); c < Math.min(cols, Math.ceil(x1 / TOKEN_PX)); c++) {
        const dx = Math.min(x1, (c + 1) * TOKEN_PX) - Math.max(x0, c * TOKEN_PX);
        if (dx > 0 && dy > 0) cover[r * cols + c] = (dx * dy) / (TOKEN_PX * TOKEN_PX);
      }
    }
  } else if (region.maskCells) {
    cover.set(region.maskCells.subarray(0, cover.length));
  }
  return cover;
}

function maskCells(canvas) {
  const { width, height } = canvas;
  const cols = Math.floor(width / TOKEN_PX), rows = Math.floor(height / TOKEN_PX);
  const cells = new Float32Array(cols * rows);
  const data = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, width, height).data;
  for (let y = 0; y < rows * TOKEN_PX; y++) {
    for (let x = 0; x < cols * TOKEN_PX; x++) {
      cells[Math.floor(y / TOKEN_PX) * cols + Math.floor(x / TOKEN_PX)] += data[(y * width + x) * 4] / 255;
    }
  }
  return cells.map((sum) => sum / (TOKEN_PX * TOKEN_PX));
}

function maskBounds(canvas) {
  const { width, height } = canvas;
  const data = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4] > 127) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
    }
  }
  return x1 < 0 ? null : [x0 / width, y0 / height, (x1 + 1) / width, (y1 + 1) / height];
}

let overlays = 0; // each drawn layout's masks get ids of their own: ids are the document's

// Draw a layout (API JSON) read-only, e.g. over a finished image, as the editor draws its regions.
export function drawLayout(svg, layout) {
  const { width, height } = layout;
  const prefix = `overlay${++overlays}-`;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const defs = svgEl("defs", {}, svg);
  const unit = Math.max(width, height) / 128;
  const labels = [];
  layout.regions.forEach((region, index) => {
    const g = svgEl("g", { class: "region" }, svg);
    drawRegion(g, defs, region, index, width, height, unit, `${prefix}${index}`, labels);
  });
}

function drawHatch(defs, unit) {
  const pattern = svgEl("pattern", {
    id: "hatch", width: 4 * unit, height: 4 * unit, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)",
  }, defs);
  svgEl("rect", { width: 1.5 * unit, height: 4 * unit, fill: "#000", "fill-opacity": 0.45 }, pattern);
}

function boxOf(region, width, height) {
  const [x0, y0, x1, y1] = region.box;
  return { x: x0 * width, y: y0 * height, w: (x1 - x0) * width, h: (y1 - y0) * height };
}

// One region: a tinted box, or a tinted mask (an SVG luminance mask over a full-canvas rect), and its label.
// `labels`: the label rectangles drawn so far in this picture, shared by its regions' calls.
function drawRegion(g, defs, region, index, width, height, unit, maskId, labels, maskUrl = null, bounds = null) {
  const col = colour(index);
  let labelAt;
  if (region.box) {
    const b = boxOf(region, width, height);
    svgEl("rect", {
      class: "box", x: b.x, y: b.y, width: b.w, height: b.h, fill: col, "fill-opacity": 0.22,
      stroke: col, "stroke-width": 2, "vector-effect": "non-scaling-stroke",
    }, g);
    labelAt = [b.x, b.y];
  } else {
    const m = svgEl("mask", { id: maskId, maskUnits: "userSpaceOnUse", x: 0, y: 0, width, height }, defs);
    svgEl("image", {
      href: maskUrl || maskSource(region.mask), x: 0, y: 0, width, height, preserveAspectRatio: "none",
    }, m);
    svgEl("rect", {
      class: "mask-fill", x: 0, y: 0, width, height, fill: col, "fill-opacity": 0.5, mask: `url(#${maskId})`,
      "pointer-events": "none",
    }, g);
    if (bounds) {
      const [x0, y0, x1, y1] = bounds;
      svgEl("rect", {
        class: "mask-bounds", x: x0 * width, y: y0 * height, width: (x1 - x0) * width, height: (y1 - y0) * height,
        fill: "none", stroke: col, "stroke-width": 1, "stroke-dasharray": "4 3", "vector-effect": "non-scaling-stroke",
        "pointer-events": "none",
      }, g);
      labelAt = [x0 * width, y0 * height];
    } else {
      labelAt = [0, 0];
    }
  }
  const size = 4.5 * unit;
  const content = `${index + 1} ${region.phrase || region.prompt || ""}`.trim();
  const x = labelAt[0] + unit;
  const textWidth = content.length * size * 0.6; // about the width of the bold sans-serif label
  let y = labelAt[1] + size;
  // overlapping regions start at the same place: step a label down past those already drawn, so each reads
  while (labels.some(([x0, y0, x1, y1]) => x < x1 && x + textWidth > x0 && y - size < y1 && y > y0)) {
    y += size * 1.15;
  }
  labels.push([x, y - size, x + textWidth, y]);
  const text = svgEl("text", {
    class: "label", x, y, "font-size": size, fill: col,
    stroke: "#fff", "stroke-width": unit * 1.2, "paint-order": "stroke",
  }, g);
  text.textContent = content;
}

export class LayoutEditor {
  constructor(svg, { onChange = () => {}, onSelect = () => {}, onStatus = () => {} } = {}) {
    this.svg = svg;
    this.width = 128;
    this.height = 128;
    this.regions = [];
    this.selected = null;
    this.tool = "select";
    this.brush = 12;
    this.snap = true;
    this.drag = null;
    this.frame = 0;
    Object.assign(this, { onChange, onSelect, onStatus });
    svg.addEventListener("pointerdown", (e) => this.pointerDown(e));
    svg.addEventListener("pointermove", (e) => this.pointerMove(e));
    svg.addEventListener("pointerup", (e) => this.pointerUp(e));
    svg.addEventListener("pointercancel", (e) => this.pointerUp(e));
    svg.addEventListener("keydown", (e) => this.keyDown(e));
    this.render();
  }

  // -- the layout in and out ------------------------------------------------------------------------------
  async setLayout(layout) {
    this.width = clamp(Math.round(Number(layout.width)) || 128, MIN_SIDE, MAX_SIDE);
    this.height = clamp(Math.round(Number(layout.height)) || 128, MIN_SIDE, MAX_SIDE);
    this.regions = await Promise.all((layout.regions || []).map(async (r) => {
      const region = new Region({
        phrase: r.phrase || "", prompt: r.prompt || "",
        box: r.box ? [...r.box] : null,
        mask: r.mask && !r.box ? await maskFromPng(r.mask, this.width, this.height) : null,
      });
      if (!region.box && !region.mask) region.box = [0.25, 0.25, 0.75, 0.75];
      this.refreshMask(region);
      return region;
    }));
    this.selected = this.regions.length ? this.regions[0].id : null;
    this.changed(true);
  }

  regionsJson() {
    return this.regions.map((r) => {
      const out = {};
      if (r.phrase.trim()) out.phrase = r.phrase.trim();
      out.prompt = r.prompt;
      if (r.box) out.box = r.box.map(round6);
      else out.mask = base64Of(r.mask);
      return out;
    });
  }

  setSize(width, height) {
    width = Math.round(Number(width));
    height = Math.round(Number(height));
    if (!(width >= MIN_SIDE && width <= MAX_SIDE && height >= MIN_SIDE && height <= MAX_SIDE)) return false;
    if (width === this.width && height === this.height) return true;
    for (const region of this.regions) {
      if (!region.mask) continue;
      const scaled = blankMask(width, height);
      scaled.getContext("2d").drawImage(region.mask, 0, 0, width, height);
      region.mask = scaled;
      this.refreshMask(region);
    }
    this.width = width;
    this.height = height;
    this.changed();
    return true;
  }

  // -- editing --------------------------------------------------------------------------------------------
  region(id = this.selected) {
    return this.regions.find((r) => r.id === id) || null;
  }

  index(id) {
    return this.regions.findIndex((r) => r.id === id);
  }

  select(id) {
    if (this.selected === id) return;
    this.selected = id;
    this.render();
    this.onSelect(id);
  }

  addRegion() {
    const g = (v) => this.snapTo(v);
    const x0 = g(this.width / 4), y0 = g(this.height / 4);
    const x1 = Math.max(g((3 * this.width) / 4), x0 + TOKEN_PX), y1 = Math.max(g((3 * this.height) / 4), y0 + TOKEN_PX);
    const region = new Region({ box: [x0 / this.width, y0 / this.height, Math.min(x1, this.width) / this.width, Math.min(y1, this.height) / this.height] });
    this.regions.push(region);
    this.selected = region.id;
    this.changed(true);
    return region;
  }

  deleteRegion(id) {
    const at = this.index(id);
    if (at < 0) return;
    this.regions.splice(at, 1);
    if (this.selected === id) this.selected = this.regions[Math.min(at, this.regions.length - 1)]?.id ?? null;
    this.changed(true);
  }

  moveRegion(id, delta) {
    const at = this.index(id), to = at + delta;
    if (at < 0 || to < 0 || to >= this.regions.length) return;
    const [region] = this.regions.splice(at, 1);
    this.regions.splice(to, 0, region);
    this.changed(true);
  }

  setShape(id, kind) {
    const region = this.region(id);
    if (!region || (kind === "mask") === Boolean(region.mask)) return;
    if (kind === "mask") {
      region.mask = blankMask(this.width, this.height); // starts as the box it was: paint or erase from there
      const b = boxOf(region, this.width, this.height);
      const ctx = region.mask.getContext("2d");
      ctx.fillStyle = "#fff";
      ctx.fillRect(b.x, b.y, b.w, b.h);
      region.box = null;
      this.refreshMask(region);
    } else {
      region.box = maskBounds(region.mask) || [0.25, 0.25, 0.75, 0.75];
      region.mask = region.maskUrl = region.maskCells = region.bounds = null;
    }
    this.changed(true);
  }

  clearMask(id) {
    const region = this.region(id);
    if (!region?.mask) return;
    const ctx = region.mask.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, this.width, this.height);
    this.refreshMask(region);
    this.changed();
  }

  refreshMask(region) {
    if (!region.mask) return;
    region.maskUrl = region.mask.toDataURL("image/png");
    region.maskCells = maskCells(region.mask);
    region.bounds = maskBounds(region.mask);
  }

  // Regions whose tokens (covered by at least half, as the sampler counts membership) are shared.
  overlaps() {
    const cols = Math.floor(this.width / TOKEN_PX), rows = Math.floor(this.height / TOKEN_PX);
    const members = this.regions.map((r) => cellCoverage(r, this.width, this.height));
    const cells = [];
    const pairs = new Map(this.regions.map((r) => [r.id, new Set()]));
    for (let cell = 0; cell < cols * rows; cell++) {
      const inside = this.regions.filter((_, i) => members[i][cell] >= 0.5);
      if (inside.length < 2) continue;
      cells.push([cell % cols, Math.floor(cell / cols)]);
      for (const a of inside) for (const b of inside) if (a !== b) pairs.get(a.id).add(this.index(b.id) + 1);
    }
    return { cells, pairs };
  }

  changed(structural = false) {
    this.render();
    this.onChange({ structural });
  }

  // -- pointer and keyboard ---------------------------------------------------------------------------------
  point(event) {
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(this.svg.getScreenCTM().inverse());
    return { x: p.x, y: p.y };
  }

  snapTo(v) {
    return this.snap ? Math.round(v / TOKEN_PX) * TOKEN_PX : Math.round(v);
  }

  pixels(region) {
    const [x0, y0, x1, y1] = region.box;
    return [x0 * this.width, y0 * this.height, x1 * this.width, y1 * this.height];
  }

  setPixels(region, [x0, y0, x1, y1]) {
    region.box = [x0 / this.width, y0 / this.height, x1 / this.width, y1 / this.height];
  }

  pointerDown(event) {
    if (event.button !== 0) return;
    const p = this.point(event);
    const selected = this.region();
    if (this.tool !== "select") {
      if (!selected?.mask) {
        this.onStatus("Select a mask region to paint on (a region's Shape: Mask).");
        return;
      }
      this.drag = { kind: "paint", last: p };
      this.paint(selected, p, p);
    } else {
      const handle = event.target.closest("[data-handle]");
      const hit = event.target.closest("[data-region]");
      if (handle && selected?.box) {
        this.drag = { kind: "resize", handle: handle.dataset.handle, start: p, from: this.pixels(selected) };
      } else if (hit) {
        const id = Number(hit.dataset.region);
        this.select(id);
        const region = this.region(id);
        if (region.box) this.drag = { kind: "move", start: p, from: this.pixels(region) };
      } else {
        this.select(null);
      }
    }
    if (this.drag) this.svg.setPointerCapture(event.pointerId);
    this.svg.focus({ preventScroll: true });
    event.preventDefault();
  }

  pointerMove(event) {
    if (!this.drag) return;
    const p = this.point(event);
    const region = this.region();
    if (!region) return;
    if (this.drag.kind === "paint") {
      this.paint(region, this.drag.last, p);
      this.drag.last = p;
      return;
    }
    const dx = p.x - this.drag.start.x, dy = p.y - this.drag.start.y;
    let [x0, y0, x1, y1] = this.drag.from;
    if (this.drag.kind === "move") {
      const w = x1 - x0, h = y1 - y0;
      x0 = clamp(this.snapTo(x0 + dx), 0, this.width - w);
      y0 = clamp(this.snapTo(y0 + dy), 0, this.height - h);
      this.setPixels(region, [x0, y0, x0 + w, y0 + h]);
    } else {
      const side = this.drag.handle;
      if (side.includes("w")) x0 = clamp(this.snapTo(x0 + dx), 0, x1 - TOKEN_PX);
      if (side.includes("e")) x1 = clamp(this.snapTo(x1 + dx), x0 + TOKEN_PX, this.width);
      if (side.includes("n")) y0 = clamp(this.snapTo(y0 + dy), 0, y1 - TOKEN_PX);
      if (side.includes("s")) y1 = clamp(this.snapTo(y1 + dy), y0 + TOKEN_PX, this.height);
      this.setPixels(region, [x0, y0, x1, y1]);
    }
    this.scheduleRender();
  }

  pointerUp() {
    if (!this.drag) return;
    const region = this.region();
    if (this.drag.kind === "paint" && region) this.refreshMask(region);
    this.drag = null;
    this.changed();
    if (region) this.announce(region);
  }

  paint(region, from, to) {
    const ctx = region.mask.getContext("2d");
    ctx.save();
    ctx.strokeStyle = ctx.fillStyle = this.tool === "eraser" ? "#000" : "#fff";
    ctx.lineWidth = this.brush;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y); // a zero-length line draws no round cap
    ctx.stroke();
    ctx.restore();
    region.maskUrl = null; // drawn from the canvas on the next frame
    this.scheduleRender();
  }

  keyDown(event) {
    const region = this.region();
    if (!region) return;
    if (event.key === "Delete") {
      this.deleteRegion(region.id);
      event.preventDefault();
      return;
    }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!(event.key in arrows) || !region.box) return;
    const step = event.altKey ? 1 : TOKEN_PX;
    const [dx, dy] = arrows[event.key].map((v) => v * step);
    let [x0, y0, x1, y1] = this.pixels(region);
    if (event.shiftKey) { // resize: the right and bottom edges follow the arrows
      x1 = clamp(x1 + dx, x0 + TOKEN_PX, this.width);
      y1 = clamp(y1 + dy, y0 + TOKEN_PX, this.height);
    } else {
      const w = x1 - x0, h = y1 - y0;
      x0 = clamp(x0 + dx, 0, this.width - w);
      y0 = clamp(y0 + dy, 0, this.height - h);
      [x1, y1] = [x0 + w, y0 + h];
    }
    this.setPixels(region, [x0, y0, x1, y1]);
    event.preventDefault();
    this.changed();
    this.announce(region);
  }

  announce(region) {
    const i = this.index(region.id) + 1;
    if (region.box) {
      const [x0, y0, x1, y1] = this.pixels(region).map(Math.round);
      this.onStatus(`Region ${i}: x ${x0}, y ${y0}, ${x1 - x0} by ${y1 - y0} px`);
    } else {
      this.onStatus(`Region ${i}: mask painted`);
    }
  }

  // -- drawing --------------------------------------------------------------------------------------------
  scheduleRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const r of this.regions) if (r.mask && !r.maskUrl) r.maskUrl = r.mask.toDataURL("image/png");
      this.render();
    });
  }

  render() {
    const { svg, width, height } = this;
    const unit = Math.max(width, height) / 128;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.classList.toggle("painting", this.tool !== "select");
    svg.replaceChildren();
    const defs = svgEl("defs", {}, svg);
    drawHatch(defs, unit);
    svgEl("rect", { class: "paper", x: 0, y: 0, width, height }, svg);
    let grid = "";
    for (let x = TOKEN_PX; x < width; x += TOKEN_PX) grid += `M${x} 0V${height}`;
    for (let y = TOKEN_PX; y < height; y += TOKEN_PX) grid += `M0 ${y}H${width}`;
    svgEl("path", { class: "grid", d: grid, "vector-effect": "non-scaling-stroke" }, svg);
    const labels = [];
    this.regions.forEach((region, index) => {
      const g = svgEl("g", {
        class: `region${region.id === this.selected ? " selected" : ""}${region.mask ? " is-mask" : ""}`,
        "data-region": region.id,
      }, svg);
      if (region.mask && !region.maskUrl) region.maskUrl = region.mask.toDataURL("image/png");
      drawRegion(g, defs, region, index, width, height, unit, `m${region.id}`, labels, region.maskUrl, region.bounds);
    });
    for (const [c, r] of this.overlaps().cells) {
      svgEl("rect", {
        class: "overlap", x: c * TOKEN_PX, y: r * TOKEN_PX, width: TOKEN_PX, height: TOKEN_PX, fill: "url(#hatch)",
        "pointer-events": "none",
      }, svg);
    }
    const selected = this.region();
    if (selected?.box && this.tool === "select") this.drawHandles(selected, unit);
  }

  drawHandles(region, unit) {
    const [x0, y0, x1, y1] = this.pixels(region);
    const xs = { w: x0, e: x1, "": (x0 + x1) / 2 }, ys = { n: y0, s: y1, "": (y0 + y1) / 2 };
    const size = 5 * unit;
    for (const handle of ["nw", "n", "ne", "e", "se", "s", "sw", "w"]) {
      const v = handle.match(/[ns]/)?.[0] ?? "", h = handle.match(/[ew]/)?.[0] ?? "";
      svgEl("rect", {
        class: `handle handle-${handle}`, "data-handle": handle, x: xs[h] - size / 2, y: ys[v] - size / 2,
        width: size, height: size, "vector-effect": "non-scaling-stroke",
      }, this.svg);
    }
  }
}
