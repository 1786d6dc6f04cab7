// Eleven requests against a limit of 10 per 60 seconds, with node-redis's defaults.
//
//   npm install redis
//   REDIS_URL=redis://127.0.0.1:6379 node node-redis.mjs [key]
//
// The module replies with the same five integers under RESP2 and RESP3, so the
// destructuring below holds whichever protocol the client speaks.
import { createClient } from "redis";
import { createRequire } from "node:module";

const { version } = createRequire(import.meta.url)("redis/package.json");
const client = await createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" })
  .on("error", (err) => console.error("redis:", err.message))
  .connect();
const key = process.argv[2] ?? "user:42";
try {
  const info = await client.sendCommand(["CLIENT", "INFO"]);
  console.log(`node-redis ${version}, RESP${/resp=(\d)/.exec(info)[1]}`);
  for (let call = 1; call <= 11; call++) {
    const [allowed, limit, remaining, retryAfterMs, resetAfterMs] = await client.sendCommand([
      "RATELIMIT.CHECK", key, "10", "60",
    ]);
    console.log(
      `${call}: ${allowed ? "allowed" : "denied"} limit=${limit} remaining=${remaining} ` +
        `retry_after_ms=${retryAfterMs} reset_after_ms=${resetAfterMs}`,
    );
  }
} finally {
  await client.close();
}
