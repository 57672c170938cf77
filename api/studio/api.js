// The service's HTTP API as the studio uses it: JSON requests with the API key, problem+json errors, images
// as blobs, and a job's server-sent events read with fetch() (EventSource cannot send an Authorization header).

const KEY_STORAGE = "regional-studio.api-key"; // sessionStorage: this tab only, gone when it closes

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE) || "",
  set: (key) => (key ? sessionStorage.setItem(KEY_STORAGE, key) : sessionStorage.removeItem(KEY_STORAGE)),
};

// An RFC 9457 problem (or what stood for one: a network error, a non-JSON answer).
export class ProblemError extends Error {
  constructor(status, problem) {
    super(`${problem.title}: ${problem.detail || ""}`);
    this.status = status;
    this.title = problem.title || `HTTP ${status}`;
    this.detail = problem.detail || "";
    this.code = problem.code || null;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    if (status === 401 && !this.errors.length) this.errors = [{ field: "authorization", message: this.detail }];
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

export class Api {
  constructor(base) {
    this.base = base; // the API's root URL: the studio lives at <root>/studio/
  }

  url(path) {
    return new URL(path, this.base).href;
  }

  headers(extra = {}) {
    const key = apiKey.get();
    return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
  }

  async fetch(url, init = {}) {
    let response;
    try {
      response = await fetch(url, { ...init, headers: this.headers(init.headers) });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ProblemError(0, { title: "The service cannot be reached", detail: String(error.message || error) });
    }
    if (!response.ok) throw await problemOf(response);
    return response;
  }

  async json(method, path, body = undefined) {
    const init = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    const response = await this.fetch(this.url(path), init);
    return response.json();
  }

  async blob(url) {
    return (await this.fetch(url)).blob();
  }

  // Server-sent events of a job, after `lastEventId` when given: yields {id, event, data} until the stream ends.
  async *events(id, lastEventId, signal) {
    const headers = { Accept: "text/event-stream" };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    const response = await this.fetch(this.url(`v1/generations/${id}/events`), { headers, signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "", event = { id: null, event: "message", data: [] };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        const lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop(); // a partial line waits for the rest
        for (const line of lines) {
          if (line === "") { // a blank line ends an event
            if (event.data.length) yield { id: event.id, event: event.event, data: event.data.join("\n") };
            event = { id: null, event: "message", data: [] };
            continue;
          }
          if (line.startsWith(":")) continue; // a comment: the heartbeat
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") event.id = text;
          else if (field === "event") event.event = text;
          else if (field === "data") event.data.push(text);
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  // Follow a job to its end: its event stream, resumed with Last-Event-ID when it breaks, and polling when
  // the stream keeps failing. `on(kind, payload)` gets "status" and "progress" events, and "job" with the
  // job whenever it is read whole; the promise resolves to the finished job (null when aborted).
  async follow(job, on, signal) {
    let lastId = null, failures = 0;
    while (!signal.aborted && failures < 3) {
      try {
        for await (const message of this.events(job.id, lastId, signal)) {
          if (message.id) lastId = message.id;
          failures = 0;
          const data = JSON.parse(message.data);
          if (message.event === "done") {
            on("job", data);
            return data;
          }
          on(message.event, data);
        }
      } catch (error) {
        if (signal.aborted) return null;
        if (error instanceof ProblemError && error.status >= 400 && error.status < 500 && error.status !== 429) throw error;
      }
      failures += 1;
      await sleep(1000, signal);
    }
    return this.poll(job, on, signal);
  }

  async poll(job, on, signal) {
    const terminal = new Set(["succeeded", "failed", "canceled"]);
    for (let wait = 500; !signal.aborted; wait = Math.min(wait * 1.5, 5000)) {
      job = await this.json("GET", `v1/generations/${job.id}`);
      on("job", job);
      if (terminal.has(job.status)) return job;
      await sleep(wait, signal);
    }
    return null;
  }
}

async function problemOf(response) {
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (body && typeof body === "object" && body.title) return new ProblemError(response.status, body);
  return new ProblemError(response.status, {
    title: response.statusText || `HTTP ${response.status}`,
    detail: text.slice(0, 300),
  });
}
