// test.js - tincan through the real Node clients, with default options.
//
//   node test.js HOST PORT      (after `npm ci` in this directory)
//
// ioredis and node-redis (the `redis` package) are pinned in package-lock.json.
// Each connects with nothing but host and port given (so whatever handshake the
// library does by default: HELLO, CLIENT SETINFO, INFO ready check, ...), then
// PING, PING with a message, ECHO of UTF-8 text, and an error reply that must
// reject the one command only. Prints one line per check and "N passed, N
// failed"; exits 1 on any failure. It does not start the server.
'use strict';

const host = process.argv[2] || '127.0.0.1';
const port = Number(process.argv[3] || 6380);
const STEP_MS = 10000;
let passed = 0;
let failed = 0;

function ok(name) {
  passed++;
  console.log(`ok ${name}`);
}

function notOk(name, err) {
  failed++;
  console.log(`not ok ${name}: ${err && err.stack ? err.stack.split('\n')[0] : err}`);
}

function within(ms, promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function check(name, fn) {
  try {
    await within(STEP_MS, fn(), name);
    ok(name);
  } catch (err) {
    notOk(name, err);
  }
}

function expectEq(want, got) {
  if (want !== got) throw new Error(`want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

async function testIoredis() {
  const Redis = require('ioredis');
  const client = new Redis(port, host);
  const errors = [];
  client.on('error', (e) => errors.push(e));
  try {
    await check('ioredis connect (default options)', () => new Promise((resolve, reject) => {
      if (client.status === 'ready') return resolve();
      client.once('ready', resolve);
      client.once('end', () => reject(new Error(`connection ended: ${errors.join('; ')}`)));
    }));
    await check('ioredis PING', async () => expectEq('PONG', await client.ping()));
    await check('ioredis PING message', async () => expectEq('hi there', await client.ping('hi there')));
    await check('ioredis ECHO utf-8', async () => expectEq('héllo ✓', await client.echo('héllo ✓')));
    await check('ioredis error reply', async () => {
      let err = null;
      try { await client.call('FOO', 'bar'); } catch (e) { err = e; }
      if (!err || !/^ERR unknown command 'FOO'/.test(err.message)) throw new Error(`got ${err}`);
      expectEq('PONG', await client.ping());
    });
    await check('ioredis no connection errors', async () => {
      if (errors.length) throw new Error(errors.map(String).join('; '));
    });
  } finally {
    client.disconnect();
  }
}

async function testNodeRedis() {
  const { createClient } = require('redis');
  const client = createClient({ socket: { host, port } });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  try {
    await check('node-redis connect (default options)', () => client.connect());
    await check('node-redis PING', async () => expectEq('PONG', await client.ping()));
    await check('node-redis PING message', async () => expectEq('hi there', await client.ping('hi there')));
    await check('node-redis ECHO utf-8', async () => expectEq('héllo ✓', await client.echo('héllo ✓')));
    await check('node-redis error reply', async () => {
      let err = null;
      try { await client.sendCommand(['FOO', 'bar']); } catch (e) { err = e; }
      if (!err || !/^ERR unknown command 'FOO'/.test(err.message)) throw new Error(`got ${err}`);
      expectEq('PONG', await client.ping());
    });
    await check('node-redis no connection errors', async () => {
      if (errors.length) throw new Error(errors.map(String).join('; '));
    });
  } finally {
    try {
      if (client.isOpen) await within(STEP_MS, client.quit(), 'quit');
    } catch (e) {
      client.disconnect && client.disconnect();
    }
  }
}

(async () => {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) console.log(`note: node ${process.versions.node}; the pinned clients want >= 20`);
  for (const t of [testIoredis, testNodeRedis]) {
    try {
      await t();
    } catch (err) {
      notOk(t.name, err);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
