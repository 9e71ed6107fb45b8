// A tincan RPC server loop in ioredis: it serves the `greet` service.
//
//     node examples/rpc/server.js [host [port]]    (else $TINCAN_HOST, $TINCAN_PORT,
//                                                   else 127.0.0.1 6380)
//
// The Node twin of server.py: each call's payload is a name, the answer a
// greeting in the language of the call's `lang` header; an empty name is
// refused with RPC.FAIL BAD_NAME. Runs until SIGINT or SIGTERM. Not a
// framework: one call at a time, no retries. See docs/rpc.md.
"use strict";
const Redis = require("ioredis");

const SERVICE = "greet";
const GREETINGS = { en: "hello", fr: "bonjour", de: "hallo" };

// A map reply as an object: ioredis gives RESP3 maps as flat
// [field, value, ...] arrays by default (replyMapping "legacy"), as in RESP2.
function fields(flat) {
  if (!Array.isArray(flat)) return flat;
  const out = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

async function answer(redis, call) {
  const name = call.payload;
  if (name === "") {
    await redis.call("RPC.FAIL", call.id, "BAD_NAME", "name must not be empty");
    return;
  }
  const word = GREETINGS[fields(call.headers).lang || "en"] || "hello";
  await redis.call("RPC.REPLY", call.id, `${word}, ${name} (from node)`);
}

async function main() {
  const host = process.argv[2] || process.env.TINCAN_HOST || "127.0.0.1";
  const port = Number(process.argv[3] || process.env.TINCAN_PORT || 6380);
  const redis = new Redis({ host, port });
  let stopping = false;
  const stop = () => {
    stopping = true;
    redis.disconnect(); // held calls go to another server (docs/rpc.md)
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  console.log(`serving ${SERVICE} on ${host}:${port}`);
  while (!stopping) {
    let calls;
    try {
      // Up to 10 calls at once; waits up to 1 s for one, then loops.
      calls = await redis.call("RPC.SERVE", SERVICE, "COUNT", 10, "BLOCK", 1000);
    } catch (e) {
      if (stopping) break;
      throw e;
    }
    for (const flat of calls) {
      const call = fields(flat);
      try {
        await answer(redis, call);
      } catch (e) {
        if (stopping) break;
        // The caller left or its deadline passed: nobody waits any more.
        console.log(`dropped ${call.id}: ${e.message}`);
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
