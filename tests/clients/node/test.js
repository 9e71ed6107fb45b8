// test.js - tincan through the real Node clients, with default options.
//
//   node test.js HOST PORT      (after `npm ci` in this directory)
//
// ioredis and node-redis (the `redis` package) are pinned in package-lock.json.
// Each connects with nothing but host and port given (so whatever handshake the
// library does by default: HELLO, CLIENT SETINFO, INFO ready check, ...), then
// PING, PING with a message, ECHO of UTF-8 text, and an error reply that must
// reject the one command only. Then each library's own stream API (both speak
// RESP3 by default; node-redis also once with RESP: 2): XADD, XRANGE, XREAD
// and XREADGROUP with BLOCK woken by XADD from another connection, consumer
// groups, XACK, XPENDING, XAUTOCLAIM, XINFO, MULTI. The same file passes
// against redis-server 7.0 (node test.js 127.0.0.1 <its port>, on an empty db).
// Prints one line per check and "N passed, N failed"; exits 1 on any failure.
// It does not start the server.
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

// ---- streams ----

// Plain JSON-able form of a reply: Maps become objects, Buffers strings.
function norm(x) {
  if (x instanceof Map) {
    const o = {};
    for (const [k, v] of x) o[String(k)] = norm(v);
    return o;
  }
  if (Buffer.isBuffer(x)) return x.toString();
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === 'object') {
    const o = {};
    for (const k of Object.keys(x)) o[k] = norm(x[k]);
    return o;
  }
  return x;
}

function expectJson(want, got) {
  const w = JSON.stringify(want);
  const g = JSON.stringify(norm(got));
  if (w !== g) throw new Error(`want ${w}, got ${g}`);
}

// A record reply as an object, whether a flat [k, v, ...] array, a Map or an object.
function recordOf(r) {
  const n = norm(r);
  if (!Array.isArray(n)) return n;
  const o = {};
  for (let i = 0; i + 1 < n.length; i += 2) o[n[i]] = n[i + 1];
  return o;
}

const ID_RE = /^\d+-\d+$/;
const BLOCK_MS = 5000;

// Waits (bounded) until the server counts `want` blocked clients.
async function waitBlocked(info, want) {
  const deadline = Date.now() + 3000;
  for (;;) {
    const text = await info();
    const m = /blocked_clients:(\d+)/.exec(text);
    if (m && Number(m[1]) === want) return;
    if (Date.now() > deadline) throw new Error(`blocked_clients never ${want}: ${m && m[1]}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Expects the promise to resolve within ms and returns [value, elapsed ms].
async function timed(promise) {
  const t0 = Date.now();
  const v = await promise;
  return [v, Date.now() - t0];
}

async function expectError(re, promise) {
  let err = null;
  try { await promise; } catch (e) { err = e; }
  if (!err || !re.test(err.message)) throw new Error(`want an error matching ${re}, got ${err}`);
}

async function testIoredisStreams() {
  const Redis = require('ioredis');
  const client = new Redis(port, host);
  const other = new Redis(port, host);
  const errors = [];
  client.on('error', (e) => errors.push(e));
  other.on('error', (e) => errors.push(e));
  const k = 'io.stream';
  try {
    await check('ioredis xadd', async () => {
      expectEq('1-1', await client.xadd(k, '1-1', 'a', '1'));
      expectEq('1-2', await client.xadd(k, '1-*', 'b', '2', 'c', '3'));
      const id = await client.xadd(k, 'MAXLEN', '~', '1000', '*', 'd', '4');
      if (!ID_RE.test(id)) throw new Error(`bad id ${id}`);
      expectEq(3, await client.xlen(k));
      expectEq(null, await client.xadd('io.none', 'NOMKSTREAM', '*', 'a', '1'));
      await expectError(/^ERR The ID specified in XADD is equal or smaller than the target stream top item/,
        client.xadd(k, '1-1', 'x', 'y'));
    });
    await check('ioredis xrange/xrevrange', async () => {
      expectJson([['1-1', ['a', '1']], ['1-2', ['b', '2', 'c', '3']]],
        await client.xrange(k, '-', '+', 'COUNT', 2));
      const rev = await client.xrevrange(k, '+', '-', 'COUNT', 1);
      expectJson(['d', '4'], rev[0][1]);
    });
    await check('ioredis xread BLOCK woken by another client', async () => {
      const p = timed(other.xread('BLOCK', BLOCK_MS, 'STREAMS', 'io.empty', k, '$', '$'));
      await waitBlocked(() => client.info('clients'), 1);
      const id = await client.xadd(k, '*', 'woke', 'yes');
      const [got, ms] = await p;
      expectJson([[k, [[id, ['woke', 'yes']]]]], got);
      if (ms >= BLOCK_MS) throw new Error(`took ${ms} ms`);
    });
    await check('ioredis xread BLOCK timeout is null', async () => {
      const [got, ms] = await timed(other.xread('BLOCK', 100, 'STREAMS', k, '$'));
      expectEq(null, got);
      if (ms < 90) throw new Error(`returned after ${ms} ms`);
    });
    const g = 'io.group';
    await check('ioredis xgroup create MKSTREAM', async () => {
      expectEq('OK', await client.xgroup('CREATE', g, 'workers', '$', 'MKSTREAM'));
      expectEq(0, await client.xlen(g));
      expectEq('stream', await client.type(g));
      await expectError(/^BUSYGROUP Consumer Group name already exists/,
        client.xgroup('CREATE', g, 'workers', '$'));
    });
    let ids = [];
    await check("ioredis xreadgroup '>' BLOCK woken by xadd", async () => {
      const p = timed(other.xreadgroup('GROUP', 'workers', 'c1', 'COUNT', 10, 'BLOCK', BLOCK_MS,
        'STREAMS', g, '>'));
      await waitBlocked(() => client.info('clients'), 1);
      const id = await client.xadd(g, '*', 'job', '1');
      let [got, ms] = await p;
      expectJson([[g, [[id, ['job', '1']]]]], got);
      if (ms >= BLOCK_MS) throw new Error(`took ${ms} ms`);
      ids.push(id);
      ids.push(await client.xadd(g, '*', 'job', '2'));
      ids.push(await client.xadd(g, '*', 'job', '3'));
      got = await client.xreadgroup('GROUP', 'workers', 'c1', 'STREAMS', g, '>');
      expectJson([[g, [[ids[1], ['job', '2']], [ids[2], ['job', '3']]]]], got);
    });
    await check("ioredis xreadgroup own pending '0'", async () => {
      const got = await client.xreadgroup('GROUP', 'workers', 'c1', 'STREAMS', g, '0');
      expectJson([[g, [[ids[0], ['job', '1']], [ids[1], ['job', '2']], [ids[2], ['job', '3']]]]], got);
      expectJson([[g, []]], await client.xreadgroup('GROUP', 'workers', 'nobody', 'STREAMS', g, '0'));
      expectEq('PONG', await client.ping());
    });
    await check('ioredis xack', async () => {
      expectEq(1, await client.xack(g, 'workers', ids[0], '999-0'));
      expectEq(0, await client.xack(g, 'workers', ids[0]));
    });
    await check('ioredis xpending', async () => {
      expectJson([2, ids[1], ids[2], [['c1', '2']]], await client.xpending(g, 'workers'));
      const rows = await client.xpending(g, 'workers', '-', '+', 10);
      expectJson([ids[1], ids[2]], rows.map((r) => r[0]));
      expectJson(['c1', 'c1'], rows.map((r) => r[1]));
      // each delivered twice: the '>' read and the '0' history read
      expectJson([2, 2], rows.map((r) => r[3]));
      expectJson([], await client.xpending(g, 'workers', 'IDLE', 600000, '-', '+', 10));
    });
    await check('ioredis xautoclaim', async () => {
      let cursor = '0-0';
      const claimed = [];
      for (let i = 0; i < 10; i++) {
        const [next, entries, deleted] = await client.xautoclaim(g, 'workers', 'c2', 0, cursor, 'COUNT', 1);
        claimed.push(...entries.map((e) => e[0]));
        expectJson([], deleted);
        cursor = next;
        if (cursor === '0-0') break;
      }
      expectJson([ids[1], ids[2]], claimed);
      expectJson([2, ids[1], ids[2], [['c2', '2']]], await client.xpending(g, 'workers'));
      expectJson([ids[1]], await client.xclaim(g, 'workers', 'c1', 0, ids[1], 'JUSTID'));
    });
    await check('ioredis xinfo', async () => {
      const s = recordOf(await client.xinfo('STREAM', g));
      expectEq(3, s.length);
      expectEq(ids[2], s['last-generated-id']);
      expectEq(1, s.groups);
      expectJson([ids[0], ['job', '1']], s['first-entry']);
      const groups = (await client.xinfo('GROUPS', g)).map(recordOf);
      expectEq(1, groups.length);
      expectEq('workers', groups[0].name);
      expectEq(2, groups[0].pending);
      expectEq(ids[2], groups[0]['last-delivered-id']);
      const cons = (await client.xinfo('CONSUMERS', g, 'workers')).map(recordOf);
      // 'nobody' came with its history read
      expectJson([['c1', 1], ['c2', 1], ['nobody', 0]], cons.map((c) => [c.name, c.pending]));
      await expectError(/^ERR no such key/, client.xinfo('STREAM', 'io.nothere'));
    });
    await check('ioredis xdel/xtrim/del', async () => {
      expectEq(1, await client.xdel(k, '1-1'));
      expectEq(1, await client.xtrim(k, 'MAXLEN', 2));
      expectEq(2, await client.xlen(k));
      expectEq(1, await client.del(k));
      expectEq(0, await client.exists(k));
    });
    await check('ioredis multi of xadds', async () => {
      const res = await client.multi().xadd('io.tx', '1-0', 'n', '1').xadd('io.tx', '2-0', 'n', '2')
        .xlen('io.tx').exec();
      expectJson([[null, '1-0'], [null, '2-0'], [null, 2]], res);
    });
    await check('ioredis stream: no connection errors', async () => {
      if (errors.length) throw new Error(errors.map(String).join('; '));
    });
  } finally {
    client.disconnect();
    other.disconnect();
  }
}

// node-redis: resp is 3 (its default) or 2.
async function testNodeRedisStreams(resp) {
  const { createClient } = require('redis');
  const opts = { socket: { host, port } };
  if (resp === 2) opts.RESP = 2;
  const client = createClient(opts);
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const tag = `node-redis${resp === 2 ? ' RESP2' : ''}`;
  const k = `nr${resp}.stream`;
  const g = `nr${resp}.group`;
  let other = null;
  try {
    await check(`${tag} connect`, async () => {
      await client.connect();
      other = client.duplicate();
      other.on('error', (e) => errors.push(e));
      await other.connect();
    });
    await check(`${tag} xAdd/xLen/xRange`, async () => {
      expectEq('1-1', await client.xAdd(k, '1-1', { a: '1' }));
      const id = await client.xAdd(k, '*', { b: '2', c: '3' },
        { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 1000 } });
      if (!ID_RE.test(id)) throw new Error(`bad id ${id}`);
      expectEq(2, await client.xLen(k));
      expectJson([{ id: '1-1', message: { a: '1' } }, { id, message: { b: '2', c: '3' } }],
        await client.xRange(k, '-', '+'));
      expectJson([{ id, message: { b: '2', c: '3' } }], await client.xRevRange(k, '+', '-', { COUNT: 1 }));
      expectEq(null, await client.xAddNoMkStream(`nr${resp}.none`, '*', { a: '1' }));
      await expectError(/^ERR The ID specified in XADD is equal or smaller than the target stream top item/,
        client.xAdd(k, '1-1', { x: 'y' }));
    });
    await check(`${tag} xRead BLOCK woken by another client`, async () => {
      const p = timed(other.xRead([{ key: k, id: '$' }], { BLOCK: BLOCK_MS }));
      await waitBlocked(() => client.info('clients'), 1);
      const id = await client.xAdd(k, '*', { woke: 'yes' });
      const [got, ms] = await p;
      expectJson([{ name: k, messages: [{ id, message: { woke: 'yes' } }] }], got);
      if (ms >= BLOCK_MS) throw new Error(`took ${ms} ms`);
      expectEq(null, await other.xRead({ key: k, id: '$' }, { BLOCK: 100 }));
    });
    await check(`${tag} xGroupCreate MKSTREAM`, async () => {
      expectEq('OK', await client.xGroupCreate(g, 'workers', '$', { MKSTREAM: true }));
      expectEq(0, await client.xLen(g));
      await expectError(/^BUSYGROUP/, client.xGroupCreate(g, 'workers', '$'));
    });
    const ids = [];
    await check(`${tag} xReadGroup '>' BLOCK woken by xAdd`, async () => {
      const p = timed(other.xReadGroup('workers', 'c1', { key: g, id: '>' }, { BLOCK: BLOCK_MS, COUNT: 10 }));
      await waitBlocked(() => client.info('clients'), 1);
      ids.push(await client.xAdd(g, '*', { job: '1' }));
      const [got, ms] = await p;
      expectJson([{ name: g, messages: [{ id: ids[0], message: { job: '1' } }] }], got);
      if (ms >= BLOCK_MS) throw new Error(`took ${ms} ms`);
      ids.push(await client.xAdd(g, '*', { job: '2' }));
      expectJson([{ name: g, messages: [{ id: ids[1], message: { job: '2' } }] }],
        await client.xReadGroup('workers', 'c1', { key: g, id: '>' }));
    });
    await check(`${tag} xReadGroup own pending '0'`, async () => {
      expectJson([{ name: g, messages: [{ id: ids[0], message: { job: '1' } },
        { id: ids[1], message: { job: '2' } }] }],
        await client.xReadGroup('workers', 'c1', { key: g, id: '0' }));
      expectEq('PONG', await client.ping());
    });
    await check(`${tag} xAck`, async () => {
      expectEq(1, await client.xAck(g, 'workers', ids[0]));
      expectEq(0, await client.xAck(g, 'workers', ids[0]));
    });
    await check(`${tag} xPending/xPendingRange`, async () => {
      const p = norm(await client.xPending(g, 'workers'));
      expectEq(1, p.pending);
      expectEq(ids[1], p.firstId);
      expectEq(ids[1], p.lastId);
      expectJson([{ name: 'c1', deliveriesCounter: 1 }], p.consumers);
      const rows = norm(await client.xPendingRange(g, 'workers', '-', '+', 10));
      expectEq(1, rows.length);
      expectEq(ids[1], rows[0].id);
      expectEq('c1', rows[0].consumer);
      expectEq(2, rows[0].deliveriesCounter);
    });
    await check(`${tag} xAutoClaim`, async () => {
      const r = norm(await client.xAutoClaim(g, 'workers', 'c2', 0, '0-0', { COUNT: 10 }));
      expectJson({ nextId: '0-0', messages: [{ id: ids[1], message: { job: '2' } }], deletedMessages: [] }, r);
      const p = norm(await client.xPending(g, 'workers'));
      expectJson([{ name: 'c2', deliveriesCounter: 1 }], p.consumers);
    });
    await check(`${tag} xInfoStream/xInfoGroups/xInfoConsumers`, async () => {
      const s = norm(await client.xInfoStream(g));
      expectEq(2, s.length);
      expectEq(ids[1], s['last-generated-id']);
      expectEq(1, s.groups);
      expectJson({ id: ids[0], message: { job: '1' } }, s['first-entry']);
      expectJson({ id: ids[1], message: { job: '2' } }, s['last-entry']);
      const groups = norm(await client.xInfoGroups(g));
      expectEq(1, groups.length);
      expectEq('workers', groups[0].name);
      expectEq(1, groups[0].pending);
      expectEq(2, groups[0].consumers);
      const cons = norm(await client.xInfoConsumers(g, 'workers'));
      expectJson([['c1', 0], ['c2', 1]], cons.map((c) => [c.name, c.pending]));
    });
    await check(`${tag} xDel/xTrim/del`, async () => {
      expectEq(1, await client.xDel(k, '1-1'));
      expectEq(1, await client.xTrim(k, 'MAXLEN', 1));
      expectEq(1, await client.xLen(k));
      expectEq(2, await client.del([k, g]));
      expectEq(0, await client.exists(g));
    });
    await check(`${tag} multi of xAdds`, async () => {
      const res = await client.multi().xAdd(`nr${resp}.tx`, '1-0', { n: '1' })
        .xAdd(`nr${resp}.tx`, '2-0', { n: '2' }).xLen(`nr${resp}.tx`).exec();
      expectJson(['1-0', '2-0', 2], res);
    });
    await check(`${tag} stream: no connection errors`, async () => {
      if (errors.length) throw new Error(errors.map(String).join('; '));
    });
  } finally {
    for (const c of [client, other]) {
      if (!c) continue;
      try {
        if (c.isOpen) await within(STEP_MS, c.quit(), 'quit');
      } catch (e) {
        c.disconnect && c.disconnect();
      }
    }
  }
}

(async () => {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) console.log(`note: node ${process.versions.node}; the pinned clients want >= 20`);
  const testNodeRedisStreams3 = () => testNodeRedisStreams(3);
  const testNodeRedisStreams2 = () => testNodeRedisStreams(2);
  for (const t of [testIoredis, testNodeRedis, testIoredisStreams, testNodeRedisStreams3,
    testNodeRedisStreams2]) {
    try {
      await t();
    } catch (err) {
      notOk(t.name, err);
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
