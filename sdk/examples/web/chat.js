// chat.js: a Parley chat page in plain JavaScript (PROTOCOL.md, or
// parley-protocol(7)). Two parts: ParleyClient, a small wrapper around the
// wire protocol meant to be copied into other pages, and the page that uses
// it. Every text from the server reaches the page through textContent,
// never as HTML.
"use strict";

// ---- ParleyClient ---------------------------------------------------------------

// The error of a refused or failed request: code is a protocol error code
// (forbidden, rate_limited, ...) or one of the client's own: timeout,
// disconnected.
class ParleyError extends Error {
  constructor(code, message, detail = {}) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

// One connection to parleyd that comes back by itself. Usage:
//
//   const client = new ParleyClient("ws://127.0.0.1:8080", jwt);
//   client.on("ready", async ({ recovered }) => { ... join, load ... });
//   client.on("message:new", ({ message }) => show(message));
//   client.start();
//   const ack = await client.request("message:send", { room, text });
//
// request() resolves with the acknowledgement's data or rejects with a
// ParleyError. Handlers get pushes by event name, plus the client's own
// events: "state" (connecting, connected, waiting; with the retry delay),
// "ready" (after every connect: recovered is the connection:recover ack,
// or null when the page must join and load again) and "fatal" (it gave
// up: an error).
//
// Browsers cannot set headers on a WebSocket, so the token goes in the
// query (/ws?token=). A dropped connection is reopened with exponential
// backoff and jitter, and resumed with connection:recover, telling the
// server the last seq received per room so the replay has no gap and no
// duplicate.
class ParleyClient {
  constructor(server, token, { timeoutMs = 10000, maxDelayMs = 30000 } = {}) {
    this.url = server.replace(/\/+$/, "") + "/ws?token=" + encodeURIComponent(token);
    this.claims = ParleyClient.claims(token);
    this.timeoutMs = timeoutMs;
    this.maxDelayMs = maxDelayMs;
    this.handlers = new Map();
    this.pending = new Map(); // request id -> { resolve, reject, timer }
    this.nextId = 1;
    this.ws = null;
    this.session = null; // connection:create-session's token, renewed by every recovery
    this.lastSeq = {}; // room -> the newest seq received
    this.attempt = 0;
    this.everOpened = false;
    this.stopped = true;
    this.retryTimer = 0;
  }

  // The claims of a JWT (sub, name, exp), unverified: the server checks
  // the token, the page only reads who it is and when it expires.
  static claims(token) {
    try {
      const p = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(p + "=".repeat((4 - (p.length % 4)) % 4)), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return {};
    }
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
    return this;
  }

  emit(event, data) {
    for (const fn of this.handlers.get(event) || []) {
      try {
        fn(data);
      } catch (e) {
        console.error("handler of " + event, e);
      }
    }
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) {
      this.ws.onmessage = null; // nothing more reaches the handlers
      this.ws.close(1000);
    }
  }

  // Sends a request with a fresh id; the promise settles with its ack, or
  // with a timeout or the connection's end.
  request(event, data = {}, timeoutMs = this.timeoutMs) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new ParleyError("disconnected", "not connected"));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ParleyError("timeout", event + ": no answer within " + timeoutMs + " ms"));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ id, event, data }));
    });
  }

  open() {
    const exp = this.claims.exp;
    if (typeof exp === "number" && exp * 1000 <= Date.now()) {
      this.fail("token_expired", "the token expired at " + new Date(exp * 1000).toLocaleString());
      return;
    }
    this.emit("state", { state: "connecting" });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.fail("bad_url", "cannot connect to " + this.url.split("?")[0] + ": " + e.message);
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.opened();
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => this.closed(ws, ev);
  }

  async opened() {
    this.everOpened = true;
    let recovered = null;
    try {
      if (this.session) {
        try {
          recovered = await this.request("connection:recover", {
            session_token: this.session,
            last_seq: this.lastSeq,
          });
          this.session = recovered.session_token;
        } catch (e) {
          if (e.code === "disconnected") throw e;
          this.session = null; // expired or refused: start afresh
        }
      }
      if (!this.session) this.session = (await this.request("connection:create-session")).session_token;
    } catch (e) {
      // The connection dropped meanwhile (closed() takes over), or the
      // server refused: start over on a new connection.
      if (e.code !== "disconnected" && this.ws) this.ws.close(4000);
      return;
    }
    this.attempt = 0;
    this.emit("state", { state: "connected" });
    // Synchronously after the recover ack: a replay's message:new pushes
    // come after this, to a page that knows it has recovered.
    this.emit("ready", { recovered });
  }

  receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (typeof msg.id === "number") {
      const p = this.pending.get(msg.id);
      if (!p) return; // timed out already
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) {
        this.noteSeqs(msg.data);
        p.resolve(msg.data);
      } else {
        const err = msg.error || {};
        p.reject(new ParleyError(err.code || "internal", err.message || "refused", err));
      }
    } else if (typeof msg.event === "string") {
      this.noteSeqs(msg.data);
      this.emit(msg.event, msg.data || {});
    }
  }

  // What recovery tells the server it has: messages pushed, sent and loaded.
  noteSeqs(data) {
    const list = data ? (data.messages || (data.message ? [data.message] : [])) : [];
    for (const m of list) {
      if (typeof m.seq === "number" && !(m.seq <= this.lastSeq[m.room])) this.lastSeq[m.room] = m.seq;
    }
  }

  closed(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ParleyError("disconnected", "the connection closed (" + ev.code + ")"));
    }
    this.pending.clear();
    if (this.stopped) return;
    if (ev.code === 4001) {
      this.fail("token_expired", "the token expired: reload the page with a fresh one");
    } else if (!this.everOpened) {
      // A refused upgrade (HTTP 401, 403, 429) reaches a page only as
      // close code 1006, the same as no server at all.
      this.fail("refused", "could not connect to " + this.url.split("?")[0] +
        ": the server refused the connection (an invalid or expired token, or this page's origin" +
        " is not allowed) or is not reachable");
    } else {
      const ceiling = Math.min(this.maxDelayMs, 500 * 2 ** this.attempt++);
      const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
      this.emit("state", { state: "waiting", code: ev.code, delay });
      this.retryTimer = setTimeout(() => this.open(), delay);
    }
  }

  fail(code, message) {
    this.stopped = true;
    this.emit("state", { state: "stopped" });
    this.emit("fatal", new ParleyError(code, message));
  }
}

// ---- the page ----------------------------------------------------------------------

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const TYPING_REFRESH_MS = 3000; // the server forgets a typing user after 5 s

// Scripted mode, for tests (tests/bats/35-web-example.bats): send=TEXT types
// TEXT and presses Enter once the room is loaded; expect=TEXT holds the
// document loading (an image from tests/browser/serve.py's /hold?KEY,
// released by /done?KEY) until a message reading TEXT has come from
// someone else, or the page has given up, so headless Chromium's
// --dump-dom shows the chat.
const script = { send: params.get("send"), expect: params.get("expect"), key: randomId(), done: false };

let client = null;
let room = "";
let me = ""; // our user id (the token's sub)
let names = new Map(); // user id -> display name
let shown = new Map(); // message id -> its <li>
let outbox = new Map(); // client_msg_id -> { text, li }: not yet acknowledged
let typers = new Map(); // user id -> name, for the room's "is typing"
let ready = false; // joined and loaded on the current connection
let typingSentAt = 0; // when we last said typing: true (0: not typing)
let oldestSeq = 0;
// Receipts. The server keeps one read pointer per reader and room and
// pushes a receipt only to the author of the message it names, and only
// when the pointer moves: so we report each author's newest message, in
// ascending id order.
let due = new Map(); // author -> newest id not reported read
let readUpTo = 0;
let deliveredUpTo = 0;

function nameOf(user) {
  return names.get(user) || user;
}

function setStatus(text) {
  $("status").textContent = text;
}

function notice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  li.textContent = text;
  $("messages").append(li);
  li.scrollIntoView({ block: "nearest" });
}

// ---- messages

const MARKS = { sending: "…", sent: "", delivered: "✓", read: "✓✓", failed: "!" };

function setState(li, state, why) {
  li.dataset.state = state;
  const mark = li.querySelector(".mark");
  mark.textContent = MARKS[state];
  mark.title = why || state;
}

function messageItem(text, mine) {
  const li = document.createElement("li");
  li.className = mine ? "msg mine" : "msg";
  for (const cls of mine ? ["time", "name", "text", "mark"] : ["time", "name", "text"]) {
    const part = document.createElement(cls === "time" ? "time" : "span");
    part.className = cls;
    li.append(part, " ");
  }
  li.querySelector(".text").textContent = text;
  return li;
}

function fill(li, m) {
  li.dataset.id = m.id;
  li.dataset.seq = m.seq;
  li.dataset.user = m.user;
  const t = li.querySelector(".time");
  t.dateTime = new Date(m.ts).toISOString();
  t.textContent = new Date(m.ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  li.querySelector(".name").textContent = m.name;
  li.querySelector(".text").textContent = m.deleted ? "message deleted" : m.text;
  li.classList.toggle("deleted", m.deleted);
}

// In seq order, before the messages still being sent.
function place(li, seq) {
  const list = $("messages");
  const later = [...list.querySelectorAll(".msg[data-seq]")].find((o) => Number(o.dataset.seq) > seq);
  const anchor = later || list.querySelector(".msg.sending");
  if (anchor) anchor.before(li);
  else list.append(li);
}

function showMessage(m) {
  if (m.room !== room || shown.has(m.id)) return;
  names.set(m.user, m.name);
  const mine = m.user === me;
  const queued = mine && m.client_msg_id ? outbox.get(m.client_msg_id) : null;
  let li;
  if (queued) {
    // Ours, sent from this page: the ack, or history reloaded meanwhile.
    outbox.delete(m.client_msg_id);
    li = queued.li;
    li.classList.remove("sending");
    li.remove();
    setState(li, "sent");
  } else {
    li = messageItem(m.text, mine);
    if (mine) setState(li, "sent");
  }
  fill(li, m);
  shown.set(m.id, li);
  place(li, m.seq);
  li.scrollIntoView({ block: "nearest" });
  if (!oldestSeq || m.seq < oldestSeq) oldestSeq = m.seq;
  if (!mine && !m.deleted) {
    if (!(due.get(m.user) >= m.id)) due.set(m.user, m.id);
    if (typers.delete(m.user)) showTypers();
  }
  if (!mine && m.text === script.expect) queueMicrotask(() => flushReceipts().finally(finishScript));
}

// Receipts cover every message up to the one named: a read of message N
// marks our messages up to N.
function markMine(upTo, state) {
  for (const li of shown.values()) {
    if (li.dataset.user === me && Number(li.dataset.id) <= upTo && li.dataset.state !== "read") {
      setState(li, state);
    }
  }
}

// Reports what the reader has: read while the page is visible, delivered
// only while it is hidden (read follows when it is shown).
function flushReceipts() {
  const visible = document.visibilityState === "visible";
  const floor = visible ? readUpTo : deliveredUpTo;
  const ids = [...due.values()].filter((id) => id > floor).sort((a, b) => a - b);
  if (!ids.length || !ready) return Promise.resolve();
  const event = visible ? "message:read" : "message:delivered";
  const acks = ids.map((id) => client.request(event, { message_id: id }).catch(() => {}));
  const newest = ids[ids.length - 1];
  deliveredUpTo = Math.max(deliveredUpTo, newest);
  if (visible) {
    readUpTo = newest;
    due.clear();
  }
  return Promise.all(acks);
}

// What happened to our newest message while we were not looking (history,
// a reconnect): its receipts, which cover the ones before it.
async function refreshMarks() {
  const id = Math.max(0, ...[...shown.values()].filter((li) => li.dataset.user === me).map((li) => Number(li.dataset.id)));
  if (!id) return;
  try {
    const st = await client.request("message:delivery-status", { message_id: id });
    if (st.read_by.some((r) => r.user !== me)) markMine(id, "read");
    else if (st.delivered_to.some((r) => r.user !== me)) markMine(id, "delivered");
  } catch (e) {
    // Marks are a nicety; the chat goes on without them.
  }
}

function newestSeq() {
  return Math.max(0, ...[...shown.values()].map((li) => Number(li.dataset.seq)));
}

// Forgets the messages shown: what was missed could not all be loaded.
function dropShown() {
  for (const li of shown.values()) li.remove();
  shown = new Map();
  oldestSeq = 0;
}

async function loadOlder() {
  $("older").hidden = true; // one page at a time
  const h = await client.request("message:history", { room, before_seq: oldestSeq, limit: 50 });
  h.messages.forEach(showMessage);
  $("older").hidden = !h.has_more;
}

// ---- sending and typing

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The client_msg_id makes a retry safe: a message resent after a dropped
// connection is stored once, and its ack is the original.
async function transmit(cmid) {
  const queued = outbox.get(cmid);
  try {
    const ack = await client.request("message:send", { room, text: queued.text, client_msg_id: cmid });
    showMessage(ack.message);
  } catch (e) {
    if (e.code === "disconnected" || e.code === "timeout") return; // again once reconnected
    outbox.delete(cmid);
    setState(queued.li, "failed", e.message);
  }
}

function send(text) {
  const cmid = randomId();
  const li = messageItem(text, true);
  li.classList.add("sending");
  li.dataset.user = me;
  setState(li, "sending");
  $("messages").append(li);
  li.scrollIntoView({ block: "nearest" });
  outbox.set(cmid, { text, li });
  if (ready) transmit(cmid); // else once reconnected
}

// While the input holds text: typing: true, repeated before the server
// forgets it; then typing: false once, when it is emptied or sent.
function typing(on) {
  if (!ready) return;
  if (on && Date.now() - typingSentAt < TYPING_REFRESH_MS) return;
  if (!on && !typingSentAt) return;
  typingSentAt = on ? Date.now() : 0;
  client.request("message:typing", { room, typing: on }).catch(() => {});
}

function showTypers() {
  const who = [...typers.values()];
  $("typing").textContent =
    who.length === 0 ? "" :
    who.length === 1 ? who[0] + " is typing…" :
    who.length === 2 ? who[0] + " and " + who[1] + " are typing…" :
    who.length + " people are typing…";
}

// ---- the connection

async function onReady({ recovered }) {
  if (recovered && recovered.recovered) {
    notice("reconnected, " + recovered.missed + " missed message" + (recovered.missed === 1 ? "" : "s"));
  } else {
    // A new session: join (for a member, only subscribes) and load the
    // newest messages.
    const joined = await client.request("join:chat", { room });
    for (const m of joined.members) names.set(m.user, m.name);
    const h = await client.request("message:history", { room, limit: 50 });
    if (h.messages.length && h.messages[0].seq > newestSeq() + 1) dropShown(); // a gap: start afresh
    h.messages.forEach(showMessage);
    if (!h.messages.length || h.messages[0].seq === oldestSeq) $("older").hidden = !h.has_more;
    if (recovered) notice("reconnected; the history was reloaded");
  }
  ready = true;
  for (const cmid of outbox.keys()) transmit(cmid);
  await Promise.all([flushReceipts(), refreshMarks()]);
  if (script.send !== null) {
    const input = $("text");
    input.value = script.send;
    script.send = null;
    input.dispatchEvent(new Event("input"));
    $("composer").requestSubmit();
  }
}

const STATUS = { online: "is online", away: "is away", busy: "is busy", offline: "went offline" };

function connect(server, token, roomName) {
  client?.stop();
  room = roomName;
  me = ParleyClient.claims(token).sub || "";
  names = new Map();
  shown = new Map();
  outbox = new Map();
  typers = new Map();
  due = new Map();
  names.set(me, ParleyClient.claims(token).name || me);
  ready = false;
  typingSentAt = oldestSeq = readUpTo = deliveredUpTo = 0;
  $("messages").replaceChildren();
  $("older").hidden = true;
  $("error").textContent = "";
  $("room").textContent = room;
  $("connect").hidden = true;
  showTypers();

  client = new ParleyClient(server, token);
  client.on("state", ({ state, code, delay }) => {
    if (state === "connecting") setStatus("connecting…");
    if (state === "connected") setStatus("connected as " + nameOf(me));
    if (state === "waiting") setStatus("disconnected (" + code + "), reconnecting in " + Math.ceil(delay / 1000) + " s…");
    if (state === "stopped") setStatus("not connected");
    if (state === "waiting" || state === "stopped") {
      ready = false;
      typers.clear(); // the server ends typing with the connection
      showTypers();
      typingSentAt = 0;
    }
  });
  client.on("ready", (ev) => {
    onReady(ev).catch((e) => {
      if (e.code === "disconnected") return; // the next connection does it again
      $("error").textContent = e.message;
      finishScript();
    });
  });
  client.on("fatal", (e) => {
    $("error").textContent = e.message;
    $("connect").hidden = false;
    finishScript();
  });
  client.on("message:new", ({ message }) => {
    showMessage(message);
    queueMicrotask(flushReceipts);
  });
  client.on("message:delivered", ({ message_id, room: r }) => r === room && markMine(message_id, "delivered"));
  client.on("message:read", ({ message_id, room: r }) => r === room && markMine(message_id, "read"));
  client.on("message:deleted", ({ message_id }) => {
    const li = shown.get(message_id);
    if (li) {
      li.classList.add("deleted");
      li.querySelector(".text").textContent = "message deleted";
    }
  });
  client.on("message:typing", ({ room: r, user, typing: on }) => {
    if (r !== room || user === me) return;
    if (on) typers.set(user, nameOf(user));
    else typers.delete(user);
    showTypers();
  });
  client.on("room:user-joined", ({ room: r, user, name }) => {
    if (r !== room) return;
    names.set(user, name);
    notice(name + " joined " + r);
  });
  client.on("room:user-left", ({ room: r, user }) => r === room && notice(nameOf(user) + " left " + r));
  client.on("presence:update", ({ user, name, status }) => {
    if (user === me) return;
    names.set(user, name);
    notice(name + " " + (STATUS[status] || "is " + status));
  });
  client.on("error", ({ code, message }) => notice("server: " + code + ": " + message));
  client.start();
}

function finishScript() {
  if (script.expect === null || script.done) return;
  script.done = true;
  fetch("/done?" + script.key).catch(() => {});
}

// ---- wiring

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("text");
  const text = input.value.trim();
  if (!text || !client) return;
  input.value = "";
  typing(false);
  send(text);
});
$("text").addEventListener("input", () => client && typing($("text").value.trim() !== ""));
$("older").addEventListener("click", () => loadOlder().catch((e) => notice("error: " + e.message)));
document.addEventListener("visibilitychange", flushReceipts);

$("connect").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  connect(f.get("server").trim(), f.get("token").trim(), f.get("room").trim() || "lobby");
});

{
  const form = $("connect");
  form.server.value = params.get("server") || "ws://" + (location.hostname || "127.0.0.1") + ":8080";
  form.token.value = params.get("token") || "";
  form.room.value = params.get("room") || "lobby";
  if (script.expect !== null) {
    const hold = document.createElement("img");
    hold.src = "/hold?" + script.key;
    hold.alt = "";
    hold.hidden = true;
    document.body.append(hold);
  }
  if (params.get("server") && params.get("token")) form.requestSubmit();
}
