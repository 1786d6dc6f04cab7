// Eleven requests against a limit of 10 per 60 seconds, with ioredis's default options.
//
//   npm install ioredis
//   REDIS_URL=redis://127.0.0.1:6379 node ioredis.mjs [key]
//
// The module replies with the same five integers under RESP2 and RESP3, so the
// destructuring below holds whichever protocol the client speaks.
import Redis from "ioredis";
import { createRequire } from "node:module";

const { version } = createRequire(import.meta.url)("ioredis/package.json");
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const key = process.argv[2] ?? "user:42";
try {
  const info = await redis.call("CLIENT", "INFO");
  console.log(`ioredis ${version}, RESP${/resp=(\d)/.exec(info)[1]}`);
  for (let call = 1; call <= 11; call++) {
    const [allowed, limit, remaining, retryAfterMs, resetAfterMs] = await redis.call(
      "RATELIMIT.CHECK", key, 10, 60,
    );
    console.log(
      `${call}: ${allowed ? "allowed" : "denied"} limit=${limit} remaining=${remaining} ` +
        `retry_after_ms=${retryAfterMs} reset_after_ms=${resetAfterMs}`,
    );
  }
} finally {
  redis.disconnect();
}
