// Fires requests at /api/data and shows each answer: status, remaining quota (from the
// RateLimit header) and a live countdown to the retry time (from Retry-After).
"use strict";

const log = document.getElementById("log");
const remainingEl = document.getElementById("remaining");
const policyEl = document.getElementById("policy");
const retryEl = document.getElementById("retry");
const totalsEl = document.getElementById("totals");
const apiKey = document.getElementById("api-key");
let allowed = 0;
let limited = 0;
let sent = 0;
let retryUntil = 0;

// `"anon";r=7;t=42` -> {r: 7, t: 42} for the first member of a RateLimit field.
function parseRateLimit(value) {
  const out = {};
  if (!value) return out;
  for (const part of value.split(",")[0].split(";").slice(1)) {
    const [k, v] = part.trim().split("=");
    out[k] = Number(v);
  }
  return out;
}

function policyName(value) {
  const m = value && value.match(/^"([^"]*)"/);
  return m ? m[1] : "?";
}

async function fire() {
  const n = ++sent;
  const headers = {};
  if (apiKey.value.trim()) headers["X-API-Key"] = apiKey.value.trim();
  let item;
  try {
    const res = await fetch("/api/data", { headers, cache: "no-store" });
    const rl = parseRateLimit(res.headers.get("RateLimit"));
    const policy = res.headers.get("RateLimit-Policy");
    if (rl.r !== undefined) remainingEl.textContent = rl.r;
    if (policy) policyEl.textContent = policyName(policy);
    let text = `#${n} ${res.status}`;
    if (res.status === 200) {
      allowed++;
      text += ` allowed, remaining ${rl.r}`;
    } else if (res.status === 429) {
      limited++;
      const retry = Number(res.headers.get("Retry-After") || 0);
      retryUntil = Math.max(retryUntil, Date.now() + retry * 1000);
      text += ` limited, retry after ${retry}s`;
    } else {
      const body = await res.json().catch(() => ({}));
      text += ` ${body.error || res.statusText}`;
    }
    item = document.createElement("li");
    item.className = res.status === 200 ? "s200" : res.status === 429 ? "s429" : "other";
    item.dataset.status = res.status;
    item.textContent = text;
  } catch (err) {
    item = document.createElement("li");
    item.className = "other";
    item.textContent = `#${n} network error: ${err}`;
  }
  log.prepend(item);
  totalsEl.textContent = `${allowed} / ${limited}`;
}

async function burst(count) {
  // In order, one after another, so the log reads top to bottom as the quota runs out.
  for (let i = 0; i < count; i++) await fire();
  document.body.dataset.burstDone = "yes";
}

function tick() {
  const left = Math.ceil((retryUntil - Date.now()) / 1000);
  retryEl.textContent = left > 0 ? `${left}s` : "-";
}

document.getElementById("one").addEventListener("click", () => fire());
document.getElementById("burst").addEventListener("click", () => burst(15));
document.getElementById("clear").addEventListener("click", () => {
  log.replaceChildren();
  allowed = limited = sent = 0;
  totalsEl.textContent = "0 / 0";
});
setInterval(tick, 250);

// /?burst=N fires a burst on load (used by the browser test and for screenshots).
const auto = Number(new URLSearchParams(location.search).get("burst"));
if (auto > 0) burst(Math.min(auto, 100));
