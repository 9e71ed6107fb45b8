// console.js - the web console's live view. Every 2 s it reads
// /api/overview (JSON) and /map.svg (the server-drawn events map), redraws the
// tables in place and says so when the server cannot be reached; a hidden tab
// pauses. Same-origin fetches only, so the browser's Basic auth for the page
// covers them. Every name is put in the page as text (textContent), never as
// markup. No framework, no external requests.
"use strict";

const REFRESH_MS = 2000;
const TIMEOUT_MS = 5000;
const LAG_WARN_S = 5;      // lag above this many seconds is flagged
let prev = null;           // the last overview, for rates
let lastMap = null;        // the last /map.svg text, to skip identical redraws
let lastOk = 0;            // Date.now() of the last good refresh

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function fmtInt(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n), u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u ? v.toFixed(1) : String(v)) + " " + units[u];
}

function fmtSec(s) {
  if (s === null || s === undefined) return "—";
  const v = Number(s);
  if (v < 60) return v.toFixed(v < 10 ? 2 : 1);
  if (v < 3600) return Math.floor(v / 60) + "m" + String(Math.floor(v % 60)).padStart(2, "0") + "s";
  return Math.floor(v / 3600) + "h" + String(Math.floor(v % 3600 / 60)).padStart(2, "0") + "m";
}

function fmtUptime(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

// A numeric cell: "zero" greys out 0, bad(v) flags it red, warn(v) amber.
function num(text, v, opts = {}) {
  const td = el("td", "num", text);
  td.dataset.value = v === null || v === undefined ? "" : String(v);
  if (v === null || v === undefined) td.classList.add("none");
  else if (opts.bad && opts.bad(v)) td.classList.add("bad");
  else if (opts.warn && opts.warn(v)) td.classList.add("warn");
  else if (v === 0) td.classList.add("zero");
  return td;
}

function nameCell(text) {
  const td = el("td", "name", text);
  td.title = text;
  return td;
}

function tags(list, clsOf) {
  const td = el("td");
  if (!list || !list.length) { td.className = "none"; td.textContent = "—"; return td; }
  for (const item of list) {
    const t = el("span", "tag " + (clsOf ? clsOf(item) : ""), item.text);
    if (item.name !== undefined) t.dataset.name = item.name;
    td.append(t);
  }
  return td;
}

// Replaces table id's body with one row per item (rowOf gives the cells),
// or one "none" row. Rows carry data-name for tests and for finding a row.
function fill(id, items, rowOf, emptyText) {
  const body = document.querySelector(`#${id} tbody`);
  const cols = document.querySelectorAll(`#${id} thead th`).length;
  const rows = [];
  for (const it of items || []) {
    const [key, cells] = rowOf(it);
    const tr = el("tr");
    tr.dataset.name = key;
    tr.append(...cells);
    rows.push(tr);
  }
  if (!rows.length) {
    const tr = el("tr"), td = el("td", "empty", emptyText);
    td.colSpan = cols;
    tr.append(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  const n = document.getElementById("n-" + id);
  if (n) n.textContent = items && items.length ? String(items.length) : "";
}

function card(k, v, title) {
  const c = el("div", "card");
  c.append(el("div", "k", k), el("div", "v", v));
  if (title) c.title = title;
  c.dataset.key = k;
  return c;
}

function renderSummary(o) {
  const s = o.server || {}, st = s.store || {};
  document.getElementById("server-line").textContent =
    `v${s.version ?? "?"} · up ${fmtUptime(s.uptime_seconds ?? 0)}`;
  const dead = (o.subscriptions || []).reduce((a, x) => a + (x.dead || 0), 0) +
               (o.queues || []).reduce((a, x) => a + (x.dead || 0), 0);
  document.getElementById("summary").replaceChildren(
    card("clients", fmtInt(s.clients)),
    card("types", fmtInt((o.types || []).length)),
    card("subscriptions", fmtInt((o.subscriptions || []).length)),
    card("dead letters", fmtInt(dead), "dead letters of subscriptions and queues"),
    card("stored events", fmtInt(st.events)),
    card("store size", fmtBytes(st.bytes)),
    card("segments", fmtInt(st.segments)),
    card("head", fmtInt(st.head), "position of the newest stored event"));
  const deadCard = document.querySelector('#summary [data-key="dead letters"] .v');
  if (dead > 0) deadCard.style.color = "var(--bad)";
}

// Events per second of a type since the previous refresh (null at first).
function rateOf(t, o) {
  if (!prev || !o.server || !prev.server) return null;
  const was = (prev.types || []).find(x => x.type === t.type);
  const dt = (o.server.now_ms - prev.server.now_ms) / 1000;
  if (!was || dt <= 0 || t.published === null || was.published === null) return null;
  return Math.max(0, (t.published - was.published) / dt);
}

function render(o) {
  renderSummary(o);
  fill("types", o.types, t => [t.type, [
    nameCell(t.type),
    el("td", t.owner ? "" : "none", t.owner ?? "—"),
    el("td", t.schema && t.schema !== "none" ? "" : "none", t.schema ?? "—"),
    num(fmtInt(t.published), t.published),
    (r => num(r === null ? "—" : r.toFixed(1), r === null ? null : Math.round(r * 10) / 10))(rateOf(t, o)),
    num(fmtBytes(t.bytes), t.bytes),
    tags((t.producers || []).map(p => ({name: p.name, text: `${p.name} ${fmtInt(p.count)}`}))),
  ]], "no event types yet");
  fill("subscriptions", o.subscriptions, s => [s.name, [
    nameCell(s.name),
    tags((s.patterns || []).map(p => ({text: p})).concat(s.durable ? [] : [{text: "ephemeral"}]),
         i => i.text === "ephemeral" && !s.durable ? "eph" : ""),
    tags((s.consumers || []).map(c => ({name: c.name, text: `${c.name} (${fmtInt(c.held)})`}))),
    num(fmtInt(s.held), s.held),
    num(fmtInt(s.ready), s.ready),
    num(fmtInt(s.dead), s.dead, {bad: v => v > 0}),
    num(fmtInt(s.delivered), s.delivered),
    num(fmtInt(s.redelivered), s.redelivered, {warn: v => v > 0}),
    num(fmtInt(s.lag_events), s.lag_events),
    num(fmtSec(s.lag_seconds), s.lag_seconds, {bad: v => v > LAG_WARN_S * 6, warn: v => v > LAG_WARN_S}),
  ]], "no subscriptions");
  fill("queues", o.queues, q => [q.name, [
    nameCell(q.name),
    num(fmtInt(q.ready), q.ready),
    num(fmtInt(q.leased), q.leased),
    num(fmtInt(q.delayed), q.delayed),
    num(fmtInt(q.dead), q.dead, {bad: v => v > 0}),
    num(fmtSec(q.oldest_age_seconds), q.oldest_age_seconds),
  ]], "no queues");
  fill("locks", o.locks, l => [l.name, [
    nameCell(l.name),
    el("td", l.holder ? "" : "none", l.holder ?? "free"),
    num(fmtInt(l.fencing_token), l.fencing_token),
    num(fmtInt(l.waiters), l.waiters, {warn: v => v > 0}),
    num(fmtInt(l.expires_in_ms), l.expires_in_ms),
  ]], "no locks held");
  fill("ring", o.ring, m => [`${m.ring}/${m.member}`, [
    nameCell(m.ring),
    nameCell(m.member),
    el("td", m.addr ? "" : "none", m.addr ?? "—"),
    tags([{text: m.healthy ? "healthy" : "unhealthy"}], () => m.healthy ? "ok" : "bad"),
    num(fmtInt(m.expires_in_ms), m.expires_in_ms),
  ]], "no ring members");
}

function renderMap(text) {
  if (text === lastMap) return;
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  const box = document.getElementById("map");
  if (svg.nodeName !== "svg" || doc.querySelector("parsererror")) {
    box.replaceChildren(el("p", "empty", "the map could not be read"));
    return;
  }
  box.replaceChildren(document.importNode(svg, true));
  lastMap = text;
}

async function get(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const r = await fetch(path, {cache: "no-store", credentials: "same-origin", signal: ctl.signal});
    if (r.status === 401)
      throw new Error("the server asks for a password (reload the page to sign in)");
    if (!r.ok) throw new Error(`${path} answered ${r.status} ${r.statusText}`);
    return r;
  } catch (e) {
    if (e.name === "AbortError") throw new Error(`no answer from ${path} in ${TIMEOUT_MS / 1000} s`);
    if (e instanceof TypeError) throw new Error("the server cannot be reached");
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function setStatus(ok, text) {
  const st = document.getElementById("status"), banner = document.getElementById("banner");
  st.className = "status " + (ok ? "live" : "down");
  st.textContent = text;
  banner.hidden = ok;
  document.querySelector("main").classList.toggle("stale", !ok && lastOk > 0);
}

// A hidden tab asks nothing (the map costs the server a manifest build);
// it refreshes at once when shown again.
let timer = null;
function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(refresh, ms);
}

async function refresh() {
  if (document.hidden) return;
  try {
    const o = await (await get("/api/overview")).json();
    render(o);
    prev = o;
    renderMap(await (await get("/map.svg")).text());
    lastOk = Date.now();
    setStatus(true, "live · " + new Date(lastOk).toLocaleTimeString("en-GB"));
    document.body.dataset.updated = String(lastOk);
  } catch (e) {
    const since = lastOk ? ` Showing data from ${new Date(lastOk).toLocaleTimeString("en-GB")}.` : "";
    setStatus(false, "unreachable");
    document.getElementById("banner").textContent =
      `Server unreachable: ${e.message}. Retrying every ${REFRESH_MS / 1000} s.${since}`;
  } finally {
    schedule(REFRESH_MS);
  }
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) schedule(0); });
refresh();
