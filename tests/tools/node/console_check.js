// console_check.js - drives tincan's web console in headless Chromium for
// tests/integration/test_console.py, through playwright-core and Debian's
// /usr/bin/chromium (no browser download).
//
//   node console_check.js '{"url": "http://127.0.0.1:PORT/", "user": "default",
//                           "password": "pw", "chromium": "/usr/bin/chromium"}'
//
// It loads the page, then answers commands read one per line on stdin, each
// with one JSON line on stdout:
//   snap         wait (<= 15 s) for a refresh newer than the last snapshot,
//                then print the snapshot below
//   down         wait (<= 15 s) for the "unreachable" banner, then snapshot
//   shot PATH    save a full-page PNG screenshot to PATH, print {"shot": PATH}
//   quit         close the browser and exit 0
// A snapshot: {"updated", "status", "banner" (text or null), "errors"
// (console errors and failed requests, no longer counted after "down"),
// "tables": {id: [{"name", "cells": [text...], "bad": [column...]}]},
// "summary": {key: text}, "map": {"nodes": [{"id", "kind", "title"}],
// "edges": [{"from", "to", "owner"}]}, "external" (requests that left the
// page's origin), "paths" (the distinct paths it asked its origin for),
// "reloaded" (true if the page was loaded again since the start)}.
// Exits 1 with the reason on stderr on any failure or timeout; it never
// waits without a bound.
'use strict';

const { chromium } = require('playwright-core');
const readline = require('readline');

const WAIT_MS = 15000;

function snapshot() {
  const rows = id => [...document.querySelectorAll(`#${id} tbody tr[data-name]`)].map(tr => ({
    name: tr.dataset.name,
    cells: [...tr.children].map(td => td.textContent),
    bad: [...tr.children].map((td, i) => td.classList.contains('bad') ? i : -1).filter(i => i >= 0),
  }));
  const summary = {};
  for (const c of document.querySelectorAll('#summary .card'))
    summary[c.dataset.key] = c.querySelector('.v').textContent;
  const svg = document.querySelector('#map svg');
  const banner = document.getElementById('banner');
  return {
    updated: document.body.dataset.updated || null,
    reloaded: window.consoleCheckMark !== 1,
    status: document.getElementById('status').textContent,
    banner: banner.hidden ? null : banner.textContent,
    tables: Object.fromEntries(['types', 'subscriptions', 'queues', 'locks', 'ring']
      .map(id => [id, rows(id)])),
    summary,
    map: svg ? {
      nodes: [...svg.querySelectorAll('g.node')].map(g => ({
        id: g.id, kind: g.getAttribute('class').replace(/^node /, ''),
        title: g.querySelector('title').textContent})),
      edges: [...svg.querySelectorAll('path.edge')].map(p => ({
        from: p.dataset.from, to: p.dataset.to, owner: p.classList.contains('owner')})),
    } : null,
  };
}

async function main() {
  const opts = JSON.parse(process.argv[2]);
  const origin = new URL(opts.url).origin;
  const browser = await chromium.launch({
    executablePath: opts.chromium || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: WAIT_MS});
  const ctx = await browser.newContext({
    viewport: {width: 1400, height: 900},
    httpCredentials: opts.password ? {username: opts.user || 'default', password: opts.password}
                                   : undefined});
  const page = await ctx.newPage();
  const errors = [], external = [], paths = [];
  let down = false;
  page.on('console', m => { if (m.type() === 'error' && !down) errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  page.on('request', r => {
    if (!r.url().startsWith(origin + '/')) external.push(r.url());
    else paths.push(new URL(r.url()).pathname);
  });
  page.on('requestfailed', r => { if (!down) errors.push(`${r.url()}: ${r.failure().errorText}`); });
  const resp = await page.goto(opts.url, {timeout: WAIT_MS});
  if (!resp.ok()) throw new Error(`GET ${opts.url}: ${resp.status()}`);
  await page.evaluate(() => { window.consoleCheckMark = 1; }); // gone if the page reloads
  let last = null;
  const out = o => process.stdout.write(JSON.stringify(o) + '\n');
  const snap = async () => {
    const s = await page.evaluate(snapshot);
    last = s.updated;
    return {...s, errors, external, paths: [...new Set(paths)].sort()};
  };
  for await (const line of readline.createInterface({input: process.stdin})) {
    const [cmd, arg] = line.trim().split(/\s+(.*)/);
    if (cmd === 'snap') {
      await page.waitForFunction(prev => document.body.dataset.updated &&
        document.body.dataset.updated !== prev && document.querySelector('#map svg'),
        last, {timeout: WAIT_MS});
      out(await snap());
    } else if (cmd === 'down') {
      down = true;
      await page.waitForFunction(() => !document.getElementById('banner').hidden, null,
                                 {timeout: WAIT_MS});
      out(await snap());
    } else if (cmd === 'shot') {
      await page.screenshot({path: arg, fullPage: true});
      out({shot: arg});
    } else if (cmd === 'quit') {
      break;
    } else {
      throw new Error(`unknown command ${JSON.stringify(line)}`);
    }
  }
  await browser.close();
}

main().then(() => process.exit(0), e => {
  process.stderr.write(`console_check: ${e.stack || e}\n`);
  process.exit(1);
});
