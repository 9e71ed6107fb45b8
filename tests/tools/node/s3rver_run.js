#!/usr/bin/env node
// s3rver_run.js - starts s3rver for the integration tests, and checks SigV4.
//
//   node s3rver_run.js --dir D [--address 127.0.0.1] [--port N] [--bucket B]...
//                      [--delay-parts-ms N]
//
// Prints "s3rver ready port=N pid=P" on stdout once it listens (--port 0 picks
// a free port). Exits at once on SIGTERM/SIGINT, as a crash would.
//
// Why not the s3rver CLI: s3rver 3.7.1 checks only that a SigV4 request has the
// right shape and a known access key; it never computes the signature (see its
// lib/middleware/authentication.js: "Signature version 4 calculation is
// unimplemeneted"). So a wrong secret would pass, and so would a client whose
// canonical request differs from real S3's. The middleware below recomputes
// every AWS4-HMAC-SHA256 Authorization header the way S3 does (path segments
// decoded then RFC 3986 encoded once, the query decoded, encoded and sorted,
// the signed headers trimmed) and answers 403 SignatureDoesNotMatch like S3.
// A body sent with a hex x-amz-content-sha256 is read whole and hashed first,
// and a mismatch answered 400 XAmzContentSHA256Mismatch, as S3 does; s3rver
// then reads the buffered body. Each verified request is logged on stdout
// ("sigv4 ok METHOD URL signed=...") so tests can see what was signed.
//
// --delay-parts-ms N holds each UploadPart request N ms before s3rver sees it,
// so a test can stop the server in the middle of a multipart upload.
'use strict';

const crypto = require('crypto');
const path = require('path');
const { Readable } = require('stream');
const S3rver = require('s3rver');
const S3Error = require('s3rver/lib/models/error');

// s3rver's one built-in account (lib/models/account.js).
const SECRETS = { S3RVER: 'S3RVER' };

function parseArgs(argv) {
  const opts = { address: '127.0.0.1', port: 0, buckets: [], delayPartsMs: 0 };
  for (let i = 2; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    switch (argv[i]) {
      case '--dir': opts.dir = path.resolve(v); break;
      case '--address': opts.address = v; break;
      case '--port': opts.port = Number(v); break;
      case '--bucket': opts.buckets.push(v); break;
      case '--delay-parts-ms': opts.delayPartsMs = Number(v); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!opts.dir) throw new Error('--dir is required');
  return opts;
}

function encode(s) {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

const sha256 = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key, s) => crypto.createHmac('sha256', key).update(s, 'utf8').digest();

// The canonical request S3 builds for req (AWS SigV4, S3 variant: no double
// encoding of the path, no dot-segment normalisation).
function canonicalRequest(req, signedHeaders) {
  const raw = req.url;
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const rawQuery = q < 0 ? '' : raw.slice(q + 1);
  const uri = rawPath
    .split('/')
    .map((seg) => encode(decodeURIComponent(seg)))
    .join('/');
  const query = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      const k = i < 0 ? p : p.slice(0, i);
      const v = i < 0 ? '' : p.slice(i + 1);
      return [encode(decodeURIComponent(k)), encode(decodeURIComponent(v))];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = signedHeaders
    .map((h) => {
      const v = req.headers[h];
      const value = (Array.isArray(v) ? v.join(',') : v || '').trim().replace(/\s+/g, ' ');
      return `${h}:${value}\n`;
    })
    .join('');
  return [
    req.method,
    uri,
    query,
    headers,
    signedHeaders.join(';'),
    req.headers['x-amz-content-sha256'] || '',
  ].join('\n');
}

function verifySigV4(ctx) {
  const auth = ctx.get('authorization');
  if (!auth.startsWith('AWS4-HMAC-SHA256 ')) return; // none or V2: s3rver's job
  const fields = {};
  for (const part of auth.slice('AWS4-HMAC-SHA256 '.length).split(',')) {
    const t = part.trim();
    const i = t.indexOf('=');
    if (i > 0) fields[t.slice(0, i)] = t.slice(i + 1);
  }
  if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) return;
  const [accessKey, date, region, service, term] = fields.Credential.split('/');
  const secret = SECRETS[accessKey];
  if (secret === undefined) return; // s3rver answers InvalidAccessKeyId
  const amzDate = ctx.get('x-amz-date');
  let stringToSign = '';
  let calculated = '';
  let canonical = '';
  try {
    canonical = canonicalRequest(ctx.req, fields.SignedHeaders.split(';'));
    stringToSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      [date, region, service, term].join('/'),
      sha256(canonical),
    ].join('\n');
    let key = hmac('AWS4' + secret, date);
    key = hmac(key, region);
    key = hmac(key, service);
    key = hmac(key, term);
    calculated = crypto.createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
  } catch (e) {
    calculated = ''; // malformed escapes in the URL
  }
  if (calculated === fields.Signature) {
    process.stdout.write(`sigv4 ok ${ctx.method} ${ctx.req.url} signed=${fields.SignedHeaders}\n`);
  }
  if (calculated !== fields.Signature || !amzDate.startsWith(date)) {
    throw new S3Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature ' +
        'you provided. Check your key and signing method.',
      { AWSAccessKeyId: accessKey, StringToSign: stringToSign, CanonicalRequest: canonical },
    );
  }
}

// Reads the body of req whole, checks it against x-amz-content-sha256 when
// that is a hash, and makes req hand the same bytes to s3rver, which reads it
// with pipe() (PUT) or on('data'/'end') (POST).
async function checkPayload(ctx) {
  const req = ctx.req;
  const claimed = (req.headers['x-amz-content-sha256'] || '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(claimed) || (req.method !== 'PUT' && req.method !== 'POST')) {
    return;
  }
  const chunks = [];
  await new Promise((resolve, reject) => {
    req.on('data', (c) => chunks.push(c));
    req.on('end', resolve);
    req.on('error', reject);
  });
  const body = Buffer.concat(chunks);
  const computed = crypto.createHash('sha256').update(body).digest('hex');
  if (computed !== claimed) {
    const e = new S3Error(
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
      { ClientComputedContentSHA256: claimed, S3ComputedContentSHA256: computed },
    );
    e.status = 400;
    e.expose = true;
    throw e;
  }
  const replay = Readable.from(body.length ? [body] : []);
  const on = req.on.bind(req);
  req.pipe = (dest, opts) => replay.pipe(dest, opts);
  req.on = (event, fn) => {
    if (event === 'data' || event === 'end' || event === 'error') {
      replay.on(event, fn);
      return req;
    }
    return on(event, fn);
  };
}

async function main() {
  const opts = parseArgs(process.argv);
  const server = new S3rver({
    address: opts.address,
    port: opts.port,
    directory: opts.dir,
    silent: false,
    vhostBuckets: false,
    configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
  });
  // In front of s3rver's own middleware (Koa composes at listen time).
  server.middleware.unshift(async (ctx, next) => {
    verifySigV4(ctx);
    await checkPayload(ctx);
    if (opts.delayPartsMs > 0 && ctx.method === 'PUT' && 'uploadId' in ctx.query) {
      await new Promise((resolve) => setTimeout(resolve, opts.delayPartsMs));
    }
    return next();
  });
  const { port } = await server.run();
  process.stdout.write(`s3rver ready port=${port} pid=${process.pid}\n`);
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

main().catch((err) => {
  process.stderr.write(`s3rver_run: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
