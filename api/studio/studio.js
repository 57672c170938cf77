// The layout studio: plan a prompt (POST /v1/plans), edit the layout, generate (POST /v1/generations),
// follow the job (its events), show and download the images, re-open past jobs. Plain ES modules, no build.

import { Api, ProblemError, apiKey } from "./api.js";
import { LayoutEditor, colour, drawLayout, svgEl } from "./editor.js";

const $ = (selector, root = document) => root.querySelector(selector);
const api = new Api(new URL("../", location.href)); // the studio is served at <API root>/studio/
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const OPTIONS = ["steps", "seed", "guidance", "base_ratio", "inject_steps", "num_images"];

const state = {
  defaults: null,
  exampleShown: false,
  job: null, // the job shown in the result panel
  follow: null, // AbortController of the job being followed
  promptJob: false, // the job shown was submitted as a prompt: its planned layout comes back to the editor
  queueTimer: 0,
  objectUrls: [],
};

function el(name, attrs = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

// An input's value as JSON: a number when it reads as one, else the text (the API says what is wrong).
function valueOf(input) {
  const text = input.value.trim();
  if (text === "") return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

// -- problems: the banner, and each field error beside the field it names ------------------------------------
let errorCount = 0;

function clearProblems() {
  $("#problem").hidden = true;
  document.querySelectorAll(".field-error").forEach((p) => p.remove());
  document.querySelectorAll("[aria-invalid]").forEach((i) => {
    i.removeAttribute("aria-invalid");
    i.removeAttribute("aria-errormessage");
  });
}

function showProblem(error) {
  if (!(error instanceof ProblemError)) {
    console.error(error);
    error = new ProblemError(0, { title: "Unexpected error in the page", detail: String(error?.message || error) });
  }
  $("#problem").replaceChildren(el("strong", {}, error.title), " ", el("span", {}, error.detail));
  $("#problem").hidden = false;
  for (const item of error.errors) attachFieldError(item.field || "", item.message || "");
}

// The element an error's field names: the field itself, else the nearest enclosing one that is shown
// ("layout.regions[2].box" -> region 3's shape; "layout" -> the regions, or the region its message names).
function fieldContainer(field, message) {
  const named = field === "layout" && /regions\[(\d+)\]/.exec(message);
  let name = named ? `layout.regions[${named[1]}]` : field;
  const all = [...document.querySelectorAll("[data-field]")];
  while (name) {
    const found = all.find((e) => e.dataset.field.split(" ").includes(name));
    if (found) return found;
    const shorter = name.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
    if (shorter === name) break;
    name = shorter;
  }
  return null;
}

function attachFieldError(field, message) {
  const box = fieldContainer(field, message);
  if (!box) return;
  const id = `field-error-${++errorCount}`;
  box.append(el("p", { class: "field-error", id }, message));
  const control = box.classList.contains("field") ? box.querySelector("input, textarea, select") : null;
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-errormessage", id);
  }
}

function note(selector, text) {
  $(selector).textContent = text;
}

// -- the editor and the region cards ------------------------------------------------------------------------
const editor = new LayoutEditor($("#canvas"), {
  onChange: ({ structural }) => (structural ? renderRegions() : updateRegionNotes()),
  onSelect: () => highlightSelected(),
  onStatus: (text) => note("#canvas-status", text),
});

function renderRegions(focus = null) {
  const { pairs } = editor.overlaps();
  $("#regions").replaceChildren(...editor.regions.map((r, i) => regionCard(r, i, pairs.get(r.id))));
  if (!editor.regions.length) {
    $("#regions").append(el("li", { class: "empty hint" }, "No regions: plan a prompt, or add one."));
  }
  if (focus) $(`[data-id="${focus.id}"] ${focus.selector}`)?.focus();
  highlightSelected();
  toolHint();
}

function overlapText(overlaps) {
  return overlaps?.size ? `shares tokens with ${[...overlaps].sort((a, b) => a - b).join(", ")}` : "";
}

function regionCard(region, index, overlaps) {
  const n = index + 1, base = `layout.regions[${index}]`, id = `region-${region.id}`;
  const card = el("li", { class: "region-card", "data-id": region.id, "data-field": base });
  card.style.setProperty("--region-colour", colour(index));
  const head = el("div", { class: "card-head" },
    el("span", { class: "swatch", "aria-hidden": "true" }),
    el("strong", {}, `Region ${n}`),
    el("span", { class: "overlap-note hint" }, overlapText(overlaps)),
  );
  const buttons = el("div", { class: "card-buttons" },
    el("button", { type: "button", class: "up", "aria-label": `Move region ${n} up`, disabled: index === 0 }, "↑"),
    el("button", { type: "button", class: "down", "aria-label": `Move region ${n} down`, disabled: index === editor.regions.length - 1 }, "↓"),
    el("button", { type: "button", class: "delete", "aria-label": `Delete region ${n}` }, "Delete"),
  );
  head.append(buttons);
  const phrase = el("input", { id: `${id}-phrase`, class: "phrase", type: "text", placeholder: "a red car" });
  phrase.value = region.phrase;
  const prompt = el("textarea", { id: `${id}-prompt`, class: "prompt", rows: 2, placeholder: "a red sports car, glossy paint" });
  prompt.value = region.prompt;
  const shape = el("fieldset", { class: "field shape", "data-field": `${base}.box ${base}.mask` },
    el("legend", {}, "Shape"),
    el("label", {}, el("input", { type: "radio", name: `${id}-shape`, value: "box", checked: Boolean(region.box) }), " Box"),
    el("label", {}, el("input", { type: "radio", name: `${id}-shape`, value: "mask", checked: Boolean(region.mask) }), " Mask"),
  );
  if (region.mask) shape.append(el("button", { type: "button", class: "clear-mask" }, "Clear mask"));
  card.append(
    head,
    el("div", { class: "field", "data-field": `${base}.phrase` }, el("label", { for: phrase.id }, "Phrase (names the object as the prompt words it)"), phrase),
    el("div", { class: "field", "data-field": `${base}.prompt` }, el("label", { for: prompt.id }, "Region prompt"), prompt),
    shape,
  );
  card.addEventListener("focusin", () => editor.select(region.id));
  card.addEventListener("pointerdown", () => editor.select(region.id));
  phrase.addEventListener("input", () => { region.phrase = phrase.value; editor.render(); });
  prompt.addEventListener("input", () => { region.prompt = prompt.value; editor.render(); });
  $(".up", card).addEventListener("click", () => { editor.moveRegion(region.id, -1); refocus(region, ".up"); });
  $(".down", card).addEventListener("click", () => { editor.moveRegion(region.id, 1); refocus(region, ".down"); });
  $(".delete", card).addEventListener("click", () => editor.deleteRegion(region.id));
  shape.addEventListener("change", (event) => {
    editor.setShape(region.id, event.target.value);
    refocus(region, `input[value="${event.target.value}"]`);
  });
  $(".clear-mask", card)?.addEventListener("click", () => editor.clearMask(region.id));
  return card;
}

function refocus(region, selector) {
  const target = $(`[data-id="${region.id}"] ${selector}`);
  (target && !target.disabled ? target : $(`[data-id="${region.id}"] .phrase`))?.focus();
}

function updateRegionNotes() {
  const { pairs } = editor.overlaps();
  for (const region of editor.regions) {
    const note = $(`[data-id="${region.id}"] .overlap-note`);
    if (note) note.textContent = overlapText(pairs.get(region.id));
  }
}

function highlightSelected() {
  document.querySelectorAll(".region-card").forEach((card) => {
    card.classList.toggle("selected", Number(card.dataset.id) === editor.selected);
  });
  toolHint();
}

function toolHint() {
  const painting = editor.tool !== "select";
  const region = editor.region();
  if (painting && !region?.mask) note("#canvas-status", "Select a mask region (Shape: Mask) to paint on.");
}

// -- the layout and the request -----------------------------------------------------------------------------
function currentLayout() {
  const layout = {
    width: valueOf($("#width")) ?? editor.width,
    height: valueOf($("#height")) ?? editor.height,
    base_prompt: $("#base-prompt").value,
    regions: editor.regionsJson(),
  };
  for (const [name, input] of [["background_prompt", "#background-prompt"], ["negative_prompt", "#negative-prompt"]]) {
    if ($(input).value.trim()) layout[name] = $(input).value;
  }
  return layout;
}

async function loadLayout(layout) {
  $("#width").value = layout.width;
  $("#height").value = layout.height;
  $("#base-prompt").value = layout.base_prompt || "";
  $("#background-prompt").value = layout.background_prompt || "";
  $("#negative-prompt").value = layout.negative_prompt || "";
  await editor.setLayout(layout);
  renderRegions();
  brushFollowsCanvas();
}

// A layout job, or a prompt job when nothing is laid out yet (the service plans it first).
function buildRequest() {
  const layout = currentLayout();
  const body = {};
  if (!editor.regions.length && !layout.base_prompt.trim()) {
    body.prompt = $("#prompt").value;
    for (const name of ["width", "height"]) if (valueOf($(`#${name}`)) !== undefined) body[name] = valueOf($(`#${name}`));
    if ($("#planner").value) body.planner = $("#planner").value;
  } else {
    body.layout = layout;
  }
  for (const name of OPTIONS) {
    const value = valueOf($(`#${name}`));
    if (value !== undefined) body[name] = value;
  }
  return body;
}

function curlOf(body) {
  const json = JSON.stringify(body).replaceAll("'", "'\\''");
  const auth = apiKey.get() ? ' -H "Authorization: Bearer $REGIONAL_API_KEY"' : "";
  return `curl -s -X POST ${api.url("v1/generations")}${auth} -H 'Content-Type: application/json' -d '${json}'`;
}

async function copy(text, what) {
  const box = $("#export");
  box.value = text;
  try {
    await navigator.clipboard.writeText(text);
    box.dataset.copied = what;
  } catch {
    box.select(); // no clipboard access (an insecure origin, a denied permission): the text is selected
    box.dataset.copied = document.execCommand?.("copy") ? what : "";
  }
}

// -- plan and generate --------------------------------------------------------------------------------------
async function plan(event) {
  event.preventDefault();
  clearProblems();
  const body = { prompt: $("#prompt").value };
  for (const name of ["width", "height"]) if (valueOf($(`#${name}`)) !== undefined) body[name] = valueOf($(`#${name}`));
  if ($("#planner").value) body.planner = $("#planner").value;
  $("#plan-button").disabled = true;
  note("#plan-note", "Planning…");
  try {
    const { layout } = await api.json("POST", "v1/plans", body);
    await loadLayout(layout);
    note("#plan-note", `Planned by ${layout.planner || "the planner"}: ${layout.regions.length} region(s).`);
  } catch (error) {
    note("#plan-note", "");
    showProblem(error);
  } finally {
    $("#plan-button").disabled = false;
  }
}

async function generate() {
  clearProblems();
  $("#generate").disabled = true;
  try {
    const body = buildRequest();
    const job = await api.json("POST", "v1/generations", body);
    state.promptJob = "prompt" in body;
    followJob(job);
    refreshJobs();
  } catch (error) {
    showProblem(error);
  } finally {
    $("#generate").disabled = false;
  }
}

async function cancel() {
  if (!state.job) return;
  clearProblems();
  try {
    showJob(await api.json("POST", `v1/generations/${state.job.id}/cancel`));
  } catch (error) {
    showProblem(error);
  }
}

// -- the job: status, progress, images ----------------------------------------------------------------------
function progressText(progress) {
  if (!progress?.stage) return "";
  return progress.total_steps ? `${progress.stage}: step ${progress.step} of ${progress.total_steps}` : progress.stage;
}

function logEvent(kind, text, stage = null) {
  const log = $("#activity");
  if (kind === "progress") {
    log.dataset.progressEvents = Number(log.dataset.progressEvents) + 1;
    const last = log.lastElementChild;
    if (last?.dataset.kind === "progress" && last.dataset.stage === stage) { // one line per stage
      last.textContent = text;
      return;
    }
  }
  log.append(el("li", { "data-kind": kind, "data-stage": stage }, text));
}

function showJob(job) {
  state.job = job;
  const parts = [job.status];
  if (job.status === "queued" && job.queue_position != null) {
    parts.push(job.queue_position === 0 ? "next in the queue" : `${job.queue_position} ahead in the queue`);
  }
  if (job.status === "running" && job.progress?.stage) parts.push(progressText(job.progress));
  if (job.cancel_requested && !TERMINAL.has(job.status)) parts.push("cancel requested");
  if (job.status === "failed" && job.error) parts.push(`${job.error.code}: ${job.error.message}`);
  if (job.status === "succeeded" && job.timings?.total_s != null) parts.push(`in ${job.timings.total_s.toFixed(1)} s`);
  const status = $("#job-status");
  status.replaceChildren(el("span", { class: "job-id" }, job.id), " ", el("strong", {}, parts[0]), parts.length > 1 ? ` · ${parts.slice(1).join(" · ")}` : "");
  status.dataset.status = job.status;
  const fraction = job.status === "succeeded" ? 1 : job.progress?.fraction;
  $("#job-progress").value = fraction ?? 0;
  $("#cancel").disabled = TERMINAL.has(job.status);
  const used = OPTIONS.filter((name) => job.parameters?.[name] != null).map((name) => `${name} ${job.parameters[name]}`);
  note("#job-parameters", used.length ? `Parameters: ${used.join(", ")}${job.parameters.model ? `; model ${job.parameters.model}` : ""}` : "");
  watchQueue(job);
}

// Events carry no queue position: while the job waits, read it now and then.
function watchQueue(job) {
  clearTimeout(state.queueTimer);
  if (job.status !== "queued") return;
  state.queueTimer = setTimeout(async () => {
    if (state.job?.id !== job.id || state.job.status !== "queued") return;
    try {
      const fresh = await api.json("GET", `v1/generations/${job.id}`);
      if (state.job?.id === job.id && !TERMINAL.has(state.job.status)) showJob(fresh);
    } catch {
      // the events stream reports what matters; a missed queue position is not worth an error
    }
  }, 1000);
}

function onEvent(id, kind, data) {
  if (state.job?.id !== id) return;
  if (kind === "status") {
    logEvent("status", `${data.status}${data.stage ? ` (${data.stage})` : ""}`);
    showJob({ ...state.job, status: data.status, progress: data.status === "queued" ? null : state.job.progress });
  } else if (kind === "progress") {
    logEvent("progress", progressText(data), data.stage);
    showJob({ ...state.job, status: "running", progress: data });
  } else if (kind === "job") {
    showJob(data);
  }
}

async function followJob(job) {
  state.follow?.abort();
  const control = new AbortController();
  state.follow = control;
  clearImages();
  $("#activity").replaceChildren();
  $("#activity").dataset.progressEvents = 0;
  logEvent("status", `job ${job.id}`);
  showJob(job);
  try {
    const done = TERMINAL.has(job.status) ? job : await api.follow(job, (kind, data) => onEvent(job.id, kind, data), control.signal);
    if (done && !control.signal.aborted) await finished(done);
  } catch (error) {
    if (!control.signal.aborted) showProblem(error);
  } finally {
    if (state.follow === control) state.follow = null;
  }
}

async function finished(job) {
  showJob(job);
  logEvent("status", `done: ${job.status}`);
  if (job.status === "succeeded") await showImages(job);
  if (state.promptJob && job.layout) await loadLayout(job.layout);
  state.promptJob = false;
  await refreshJobs();
}

function clearImages() {
  state.objectUrls.forEach((url) => URL.revokeObjectURL(url));
  state.objectUrls = [];
  $("#images").replaceChildren();
}

async function showImages(job) {
  clearImages();
  for (const output of job.outputs) {
    const url = URL.createObjectURL(await api.blob(output.url)); // the image route needs the key: no <img src>
    state.objectUrls.push(url);
    const image = el("img", { src: url, alt: `Image ${output.index + 1} of job ${job.id}`, width: output.width, height: output.height });
    const overlay = svgEl("svg", { class: "overlay", "aria-hidden": "true", preserveAspectRatio: "none" });
    if (job.layout) drawLayout(overlay, job.layout);
    overlay.classList.toggle("hidden", !$("#show-overlay").checked);
    const link = el("a", { href: url, download: `${job.id}-${output.index}.png` }, `Download image ${output.index + 1}`);
    $("#images").append(el("figure", { class: "shot" }, el("div", { class: "frame" }, image, overlay), el("figcaption", {}, link)));
  }
}

// -- past jobs ----------------------------------------------------------------------------------------------
async function refreshJobs() {
  let page;
  try {
    page = await api.json("GET", "v1/generations?limit=20");
  } catch (error) {
    if (error.status !== 401) showProblem(error); // without a key the key field says it already
    return;
  }
  $("#jobs").replaceChildren(...page.data.map(jobItem));
  if (!page.data.length) $("#jobs").append(el("li", { class: "hint" }, "No jobs yet."));
}

function jobItem(job) {
  const what = job.prompt || job.layout?.base_prompt || "(not planned yet)";
  const when = new Date(job.created_at);
  const open = el("button", { type: "button", class: "open-job", "data-id": job.id, "aria-label": `Open job ${job.id}: ${what}` }, "Open");
  open.addEventListener("click", () => openJob(job.id));
  return el("li", { "data-id": job.id },
    open, " ",
    el("span", { class: `badge status-${job.status}` }, job.status), " ",
    el("span", { class: "what", title: what }, what), " ",
    el("time", { datetime: job.created_at }, when.toLocaleTimeString()),
  );
}

async function openJob(id) {
  clearProblems();
  try {
    const job = await api.json("GET", `v1/generations/${id}`);
    if (job.layout) await loadLayout(job.layout);
    $("#prompt").value = job.prompt || job.layout?.base_prompt || "";
    for (const name of OPTIONS) $(`#${name}`).value = job.parameters?.[name] ?? "";
    state.promptJob = !job.layout;
    followJob(job);
  } catch (error) {
    showProblem(error);
  }
}

// -- the key, the model's defaults and the first example --------------------------------------------------------
function keyNote(text = null) {
  note("#key-note", text ?? (apiKey.get() ? "A key is in use in this tab (session storage only)." : "Kept in this tab only (session storage)."));
}

async function loadDefaults() {
  let defaults;
  try {
    defaults = await api.json("GET", "v1/defaults");
  } catch (error) {
    showProblem(error);
    if (error.status === 401) {
      keyNote("This service needs an API key.");
      $("#api-key").focus();
    }
    note("#model-info", "The model's defaults are shown once the service answers.");
    return false;
  }
  state.defaults = defaults;
  const [model] = defaults.models;
  if (!model) note("#model-info", "No generation worker is ready yet: empty fields will take the model's defaults.");
  else if (!model.defaults) note("#model-info", `Model ${model.model} on ${model.device}: empty fields take its defaults (not known here).`);
  else note("#model-info", `Model ${model.model} on ${model.device}. Empty fields take its defaults, shown in grey.`);
  for (const name of OPTIONS) {
    const value = model?.defaults?.[name];
    if (value != null) $(`#${name}`).placeholder = `${value} (default)`;
  }
  const limits = defaults.limits;
  for (const [name, max] of [["steps", limits.max_steps], ["inject_steps", limits.max_steps], ["num_images", limits.max_images],
    ["width", limits.max_side], ["height", limits.max_side]]) $(`#${name}`).max = max;
  if (!state.exampleShown && !editor.regions.length && !$("#prompt").value.trim()) {
    const example = defaults.example;
    $("#prompt").value = example.prompt;
    if (example.layout) {
      await loadLayout(example.layout);
    } else {
      $("#width").value = example.width;
      $("#height").value = example.height;
      editor.setSize(example.width, example.height);
      brushFollowsCanvas();
    }
  }
  state.exampleShown = true;
  return true;
}

function brushFollowsCanvas() {
  editor.brush = (Number($("#brush-size").value) / 100) * Math.max(editor.width, editor.height);
}

// -- wiring ------------------------------------------------------------------------------------------------
function wire() {
  $("#key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblems();
    apiKey.set($("#api-key").value.trim());
    $("#api-key").value = "";
    keyNote();
    if (await loadDefaults()) await refreshJobs();
  });
  $("#forget-key").addEventListener("click", () => { apiKey.set(""); keyNote(); });
  $("#plan-form").addEventListener("submit", plan);
  for (const name of ["width", "height"]) {
    $(`#${name}`).addEventListener("input", () => {
      if (editor.setSize(valueOf($("#width")), valueOf($("#height")))) brushFollowsCanvas();
    });
  }
  $("#add-region").addEventListener("click", () => {
    const region = editor.addRegion();
    renderRegions({ id: region.id, selector: ".prompt" });
  });
  document.querySelectorAll('input[name="tool"]').forEach((radio) => radio.addEventListener("change", () => {
    editor.tool = radio.value;
    editor.render();
    note("#canvas-status", "");
    toolHint();
  }));
  $("#brush-size").addEventListener("input", brushFollowsCanvas);
  $("#snap").addEventListener("change", () => { editor.snap = $("#snap").checked; });
  $("#generate").addEventListener("click", generate);
  $("#cancel").addEventListener("click", cancel);
  $("#show-overlay").addEventListener("change", () => {
    document.querySelectorAll("#images .overlay").forEach((o) => o.classList.toggle("hidden", !$("#show-overlay").checked));
  });
  $("#copy-json").addEventListener("click", () => copy(JSON.stringify(currentLayout(), null, 2), "layout"));
  $("#copy-curl").addEventListener("click", () => copy(curlOf(buildRequest()), "curl"));
  $("#refresh-jobs").addEventListener("click", () => { clearProblems(); refreshJobs(); });
}

async function start() {
  wire();
  keyNote();
  renderRegions();
  brushFollowsCanvas();
  try {
    if (await loadDefaults()) await refreshJobs();
  } catch (error) {
    showProblem(error);
  } finally {
    document.body.dataset.ready = "true"; // the first requests have been answered (the browser tests wait)
  }
}

start();
