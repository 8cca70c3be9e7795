// teambot dashboard: talking to the API. The token travels in the cookie the first visit set.
"use strict";

const api = {
  async get(path) {
    const res = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    return api.answer(res);
  },
  async post(path, body) {
    const res = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return api.answer(res);
  },
  async text(path) {
    const res = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    if (!res.ok) throw await api.failure(res);
    return res.text();
  },
  async answer(res) {
    if (!res.ok) throw await api.failure(res);
    return res.json();
  },
  async failure(res) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body.error) message = body.error + (body.hint ? ` (${body.hint})` : "");
    } catch (_) { /* not JSON */ }
    const err = new Error(message);
    err.status = res.status;
    return err;
  },
};

// An SSE stream that survives a server restart: EventSource retries by itself after a network
// error (sending Last-Event-ID); if it gives up (an HTTP error while the server starts), a new one
// continues from the last id seen, so nothing is lost and nothing is seen twice.
class Stream {
  constructor(url, onMessage, onState) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.lastId = null;
    this.closed = false;
    this.open();
  }
  open() {
    if (this.closed) return;
    const sep = this.url.includes("?") ? "&" : "?";
    const url = this.lastId === null ? this.url : `${this.url}${sep}since=${this.lastId}`;
    const es = new EventSource(url);
    this.es = es;
    es.onopen = () => this.onState("live");
    es.onmessage = (e) => {
      if (e.lastEventId !== "") this.lastId = e.lastEventId;
      this.onMessage(JSON.parse(e.data), e);
    };
    es.onerror = () => {
      this.onState("reconnecting");
      if (es.readyState === EventSource.CLOSED) {
        setTimeout(() => { if (this.es === es) this.open(); }, 1500);
      }
    };
  }
  close() {
    this.closed = true;
    if (this.es) this.es.close();
  }
}
