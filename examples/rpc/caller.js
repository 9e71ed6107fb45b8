// A tincan RPC caller in ioredis: it asks the `greet` service to greet names.
//
//     node examples/rpc/caller.js [host [port [name ...]]]   (else $TINCAN_HOST,
//                                                            $TINCAN_PORT, 127.0.0.1 6380)
//
// The Node twin of caller.py: prints `'ada' -> hello, ada (from node)` per name,
// or the error the call ended with (`'' -> error BAD_NAME name must not be
// empty`, `error TIMEOUT ...`, `error NOSERVER ...`). $GREET_LANG (en, fr, de)
// goes in the `lang` header. See docs/rpc.md.
"use strict";
const Redis = require("ioredis");

async function main() {
  const host = process.argv[2] || process.env.TINCAN_HOST || "127.0.0.1";
  const port = Number(process.argv[3] || process.env.TINCAN_PORT || 6380);
  const names = process.argv.length > 4 ? process.argv.slice(4) : ["ada", "grace", ""];
  const lang = process.env.GREET_LANG || "en";
  const redis = new Redis({ host, port });
  for (const name of names) {
    try {
      const got = await redis.call("RPC.CALL", "greet", name, "TIMEOUT", 2000,
                                   "HDR", "lang", lang);
      console.log(`'${name}' -> ${got}`);
    } catch (e) {
      // A ReplyError's message is the whole error line: CODE message.
      console.log(`'${name}' -> error ${e.message}`);
    }
  }
  await redis.quit();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
