#!lua name=ratelimit
--[[
redis-ratelimit as a Lua library, for servers that cannot load the module (managed
services refuse MODULE LOAD, but run Lua). The same commands, arguments, bounds, error
texts and replies as the module's, decided with the server's TIME, on the module's
state layout (src/state.rs), so a key counted here is continued by the module and back.

Two ways to use this one file:

  * Redis 7.0+ and Valkey: FUNCTION LOAD it as it is (library `ratelimit`), then
      FCALL    ratelimit_check  1 key limit window [options]
      FCALL_RO ratelimit_peek   1 key limit window [options]
      FCALL    ratelimit_mcheck N key1 .. keyN limit1 window1 .. limitN windowN [options]
      FCALL    ratelimit_charge 1 key limit window amount [options]
      FCALL_RO ratelimit_version 0
  * Any server with scripting (Redis 6.2 too): EVAL / EVALSHA this file without its
    first line, with the command's name as the first argument:
      EVALSHA sha 1 key check|peek limit window [options]
      EVALSHA sha N key1 .. keyN mcheck limit1 window1 .. [options]
      EVALSHA sha 1 key charge limit window amount [options]
      EVALSHA sha 0 version

Lua numbers are doubles, exact for integers up to 2^53. Milliseconds and counts fit;
GCRA's nanosecond arrival times (about 2^61) do not, so they are carried as whole
milliseconds plus the nanoseconds within one, and the few products and quotients that
could pass 2^53 are computed exactly (see "Exact arithmetic").

Everything is checked and every key read before the first write: a script is not
rolled back when it fails halfway.

What a call costs (docs/performance.md has the figures): the server's own work for
TIME, GET, SET and the reply is most of it, and the rest is kept small on purpose.
Making a table, a string or a function costs as much as a few hundred arithmetic
steps, and calling a C function (tonumber, string.byte) as much as a hundred, so the
everyday path passes numbers rather than tables, reads each argument string once per
server (a cache: FCALL keeps this file's state between calls), and uses the exact
arithmetic only for values that need it. EVAL runs the whole file on every call, so
what only rare calls need is made on first use (`exact`), and a CHECK returns before
the other commands are made.
]]

local VERSION = '0.3.0'

local NS_PER_MS = 1000000
local MAX_LIMIT = 1000000000000
local MAX_WINDOW_MS = 315576000000
local MAX_LOG_LIMIT = 4096
local MAX_LIMITS = 64
local U48_MAX = 281474976710655
local TWO52 = 4503599627370496
local TWO53 = 9007199254740992
-- u64::MAX as whole milliseconds and the nanoseconds beyond them.
local U64_MAX_MS, U64_MAX_NS = 18446744073709, 551615

-- State tags (src/state.rs), as numbers and as the one-byte strings values start with.
local TAG_FIXED, TAG_SLIDING, TAG_GCRA, TAG_LOG = 0xA1, 0xA2, 0xA3, 0xA4
local LOG_TAG = '\164'

-- The module's error texts shared by several commands (src/args.rs, src/failure.rs);
-- the others are written where they are refused. A test holds them all equal.
local E_LIMIT = 'ERR limit must be an integer from 1 to 1000000000000'
local E_COST = 'ERR COST must be an integer from 0 to 1000000000000'
local E_UNKNOWN_OPTION = 'ERR unknown option: expected ALGORITHM, BURST, COST or MS (COSTS with MCHECK)'
local E_WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value'
local E_WRITE_FAILED = 'ERR could not write the rate-limit state'

-- The standard libraries and the server's calls, bound on the first call: FUNCTION
-- LOAD runs this file in an environment without them, and a global lookup per use
-- would cost every call.
local floor, min, byte, char, sub, upper, rep, concat, find, pack, unpack_struct
local tonumber_, type_, rcall, rpcall, error_reply
local function bind()
  floor, min = math.floor, math.min
  byte, char, sub, upper, rep = string.byte, string.char, string.sub, string.upper, string.rep
  concat, find, pack, unpack_struct = table.concat, string.find, struct.pack, struct.unpack
  tonumber_, type_ = tonumber, type
  rcall, rpcall, error_reply = redis.call, redis.pcall, redis.error_reply
end

-- Argument strings already read, and their numbers (or false: not a number). FCALL
-- keeps the table between calls (clients send the same few limits, windows and costs
-- again and again); EVAL, which starts afresh each call, has none. Bounded: emptied
-- when full.
local NUMBERS, numbers_held = nil, 0

-- A strict unsigned decimal, as Redis reads one: digits only, no sign, no leading
-- zero, at most u64::MAX; nil otherwise. Beyond 2^53 the value is approximate, which
-- only matters for telling it is out of every range. (tonumber alone is not strict:
-- it takes spaces, signs, exponents, hex, "nan" and "inf".)
local function uint(s)
  local v = NUMBERS and NUMBERS[s]
  if v ~= nil then return v or nil end
  v = false
  if s == '0' then
    v = 0
  elseif find(s, '^[1-9]%d*$') then
    local n = #s
    if n < 20 or (n == 20 and s <= '18446744073709551615') then v = tonumber_(s) end
  end
  if NUMBERS then
    if numbers_held >= 1024 then NUMBERS, numbers_held = {}, 0 end
    NUMBERS[s], numbers_held = v, numbers_held + 1
  end
  return v or nil
end

-- The seconds of the last TIME read, and them in milliseconds (one string to read a
-- second).
local clock_s, clock_ms = nil, 0

-- The server's clock, read once per call: Unix ms, and the ns within that ms.
local function clock()
  local t = rcall('TIME')
  local s, us = t[1], tonumber_(t[2])
  if s ~= clock_s then clock_s, clock_ms = s, tonumber_(s) * 1000 end
  local within = us % 1000
  return clock_ms + (us - within) / 1000, within * 1000
end

--------------------------------------------------------------------------------------
-- The everyday CHECK
--------------------------------------------------------------------------------------

-- CHECK with ALGORITHM FIXED (the default), in one function that calls nothing of the
-- library's but the clock: options among MS, ALGORITHM FIXED and COST, each once and
-- in upper case, as the clients send them; a key that is missing or holds FIXED's
-- binary form. Anything else goes to `check` before anything is written, which
-- decides the same way (`fixed` below is this decision for every case). `first` is
-- where the arguments start: 1 under FCALL (the function is registered as it is),
-- 2 under EVAL, which tries it before `check` is made (then nil goes back).
local check
local function fixed_check(keys, args, first)
  if floor == nil then bind() end
  first = first or 1
  local n = #args
  if #keys ~= 1 or n < first + 1 then return check and check(keys, args, first) end
  local ms, fixed, cost_s = false, false, nil
  local i = first + 2
  while i <= n do
    local word = args[i]
    if word == 'MS' and not ms then
      ms = true
      i = i + 1
    elseif word == 'ALGORITHM' and not fixed and args[i + 1] == 'FIXED' then
      fixed = true
      i = i + 2
    elseif word == 'COST' and not cost_s and i < n then
      cost_s = args[i + 1]
      i = i + 2
    else
      return check and check(keys, args, first)
    end
  end
  -- The numbers as `uint` reads them, from its table when they are there.
  local cap_s, w_s = args[first], args[first + 1]
  local cap, w, cost = NUMBERS and NUMBERS[cap_s], NUMBERS and NUMBERS[w_s], 1
  if not cap then cap = uint(cap_s) end
  if not w then w = uint(w_s) end
  if cost_s then cost = NUMBERS and NUMBERS[cost_s] or uint(cost_s) end
  if not (cap and w and cost) or cap < 1 or cap > MAX_LIMIT or w < 1 or cost > MAX_LIMIT then
    return check and check(keys, args, first)
  end
  if not ms then
    if w > MAX_WINDOW_MS / 1000 then return check and check(keys, args, first) end
    w = w * 1000
  elseif w > MAX_WINDOW_MS then
    return check and check(keys, args, first)
  end
  local now = clock()
  if now > U48_MAX then return check and check(keys, args, first) end
  local key = keys[1]
  local value = rpcall('GET', key)
  local start, count = now, 0
  if value then
    -- (An error reply is a table, whose length is 0.)
    if #value ~= 13 then return check and check(keys, args, first) end
    local tag, s, c = unpack_struct('<BI6I6', value)
    if tag ~= TAG_FIXED then return check and check(keys, args, first) end
    -- A clock that stepped backwards puts the start in the future: the window is
    -- taken to start now, and the count is kept.
    if s > now then s = now end
    if now < s + w then start, count = s, c end
  end
  local finish = start + w
  local after = count + cost
  if after <= cap then
    if cost == 0 then
      if after == 0 then return { 1, cap, cap, 0, 0 } end
      return { 1, cap, cap - after, 0, finish - now }
    end
    local ok = rpcall('SET', key, pack('<BI6I6', TAG_FIXED, start, after), 'PXAT', finish)
    if ok.err then return error_reply(E_WRITE_FAILED) end
    return { 1, cap, cap - after, 0, finish - now }
  end
  local retry, reset, left = finish - now, 0, cap - count
  if cost > cap then retry = -1 end
  if count > 0 then reset = finish - now end
  if left < 0 then left = 0 end
  return { 0, cap, left, retry, reset }
end

-- EVAL runs this file on every call, and making a function costs: the everyday CHECK
-- is tried before the rest of the library is made.
if not redis.register_function and ARGV[1] == 'check' then
  bind()
  local reply = fixed_check(KEYS, ARGV, 2)
  if reply then return reply end
end

--------------------------------------------------------------------------------------
-- Arithmetic on the everyday path
--------------------------------------------------------------------------------------

-- floor(n / d) for integers n < 2^53, d >= 1: the double quotient may round up to the
-- next integer when the remainder is tiny, so the remainder decides.
local function divfloor(n, d)
  local q = floor(n / d)
  local r = n - q * d
  if r < 0 then return q - 1 elseif r >= d then return q + 1 end
  return q
end

-- ceil(n / d), the same bounds.
local function divceil(n, d)
  local q = divfloor(n, d)
  if q * d < n then return q + 1 end
  return q
end

-- The rare helpers (exact arithmetic past 2^53, GCRA in exact time, the compact form,
-- multi-byte varints, CHARGE, the refusals built from words), made by the first call
-- that needs them: see `rare` below.
local R
local rare

-- floor(a * b / c) for integers a, b, c < 2^53 whose quotient is below 2^53.
local function muldiv(a, b, c)
  local p = a * b
  if p < TWO53 then return divfloor(p, c) end
  return (R or rare()).muldiv(a, b, c)
end

-- ceil(a * b / c), the same bounds.
local function muldiv_ceil(a, b, c)
  local p = a * b
  if p < TWO53 then return divceil(p, c) end
  return (R or rare()).muldiv_ceil(a, b, c)
end

--------------------------------------------------------------------------------------
-- State (src/state.rs): a tag byte, then little-endian fields
--
-- A state travels as the algorithm's name and up to three values: FIXED start, count;
-- SLIDING start, prev, cur; GCRA the arrival time's ms and ns; LOG the stored bytes
-- and the number of entries. No key: no name.
--------------------------------------------------------------------------------------

local function u48(s, at)
  return (unpack_struct('<I6', s, at))
end

-- u64 little-endian bytes as (lo, hi) 32-bit halves <-> (ms, ns). A u64 is
-- hi * 2^32 + lo, and 2^32 = 4294 * 10^6 + 967296.
local function time_of(lo, hi)
  local rest = hi * 967296 + lo
  local carry = divfloor(rest, NS_PER_MS)
  return hi * 4294 + carry, rest - carry * NS_PER_MS
end

-- A GCRA value for the arrival time (m, n).
local function gcra_value(m, n)
  -- t = m * 10^6 + n; split m at 2^20 so that each part's product stays exact.
  local ml = m % 1048576
  local x = (m - ml) / 1048576 * NS_PER_MS
  local y = ml * NS_PER_MS + n
  local carry = divfloor(y, 1048576)
  x, y = x + carry, y - carry * 1048576
  -- t = x * 2^20 + y, y < 2^20: the low 32 bits are x's low 12 bits and y.
  local xl = x % 4096
  return pack('<BI4I4', TAG_GCRA, xl * 1048576 + y, (x - xl) / 4096)
end

-- A SLIDING value: start, then prev and cur as LEB128 varints.
local function sliding_value(start, prev, cur)
  if prev < 128 and cur < 128 then
    return pack('<BI6BB', TAG_SLIDING, min(start, U48_MAX), prev, cur)
  end
  local r = R or rare()
  return pack('<BI6', TAG_SLIDING, min(start, U48_MAX)) .. r.varint(prev) .. r.varint(cur)
end

-- The state stored under `key`: the algorithm's name and its values; nil for a missing
-- key, false for anything that is not this module's state.
local function load(key, now)
  local v = rpcall('GET', key)
  if not v then return nil end
  if type_(v) ~= 'string' then return false end
  local n = #v
  if n == 13 then
    local tag, a, b = unpack_struct('<BI6I6', v)
    if tag == TAG_FIXED then return 'fixed', a, b end
  elseif n == 9 then
    local tag, lo, hi = unpack_struct('<BI4I4', v)
    if tag == TAG_GCRA then return 'gcra', time_of(lo, hi) end
    if tag == TAG_SLIDING then
      local _, start, prev, cur = unpack_struct('<BI6BB', v)
      if prev < 128 and cur < 128 then return 'sliding', start, prev, cur end
    end
  end
  local tag = byte(v, 1)
  if tag == TAG_SLIDING then
    if n >= 9 and n <= 21 then return (R or rare()).sliding_state(v) end
  elseif tag == TAG_LOG then
    if (n - 1) % 6 == 0 then
      local count = (n - 1) / 6
      -- Oldest first; only the ends are checked, as the module does.
      if count == 0 or u48(v, 2) <= u48(v, n - 5) then return 'log', v, count end
    end
  elseif tag == 45 then -- '-'
    return (R or rare()).compact_state(v, key, now)
  end
  return false
end

-- Writes an allowed call's state: `value`, expiring at `at` (Unix ms); false for a
-- value of false (nothing left counted: the key goes). True when it was written.
local function store(key, value, at)
  local ok
  if value then
    ok = rpcall('SET', key, value, 'PXAT', at)
  else
    ok = rpcall('DEL', key)
  end
  return not (type_(ok) == 'table' and ok.err)
end

--------------------------------------------------------------------------------------
-- Algorithms (src/algorithm/): (state, limit, cost, now) -> the decision
--
-- Each returns allowed (1 or 0), remaining, retry_after_ms and reset_after_ms, then,
-- when an allowed call counts something, the value to store and when the key expires
-- (Unix ms). `cap` is the limit, `w` the window in ms.
--------------------------------------------------------------------------------------

local function fixed(start0, count0, cap, w, cost, now)
  local start, count = now, 0
  if start0 then
    -- A clock that stepped backwards puts the start in the future: the window is
    -- taken to start now, and the count is kept.
    local s = start0
    if s > now then s = now end
    if now < s + w then start, count = s, count0 end
  end
  local finish = start + w
  local until_end = finish - now
  local after = count + cost
  if after <= cap then
    local reset = 0
    if after > 0 then reset = until_end end
    if cost > 0 then
      return 1, cap - after, 0, reset,
        pack('<BI6I6', TAG_FIXED, min(start, U48_MAX), min(after, U48_MAX)), finish
    end
    return 1, cap - after, 0, reset
  end
  local retry = until_end
  if cost > cap then retry = -1 end
  local reset = 0
  if count > 0 then reset = until_end end
  local left = cap - count
  if left < 0 then left = 0 end
  return 0, left, retry, reset
end

-- The windows as they stand at now: rolled forward, or fresh.
local function sliding_current(start0, prev, cur, w, now)
  if start0 then
    -- A clock that stepped backwards puts the start in the future: taken as now.
    local s = start0
    if s > now then s = now end
    local e = now - s
    if e < w then return s, prev, cur end
    if e < w + w then return s + w, cur, 0 end
  end
  return now, 0, 0
end

-- The smallest e in [0, w] at which the previous window's count still inside the last
-- W, ceil(prev * (w - e) / w), is at most `allowance`.
local function first_fit(prev, w, allowance)
  if prev <= allowance then return 0 end
  return w - min(muldiv(allowance, w, prev), w)
end

local function sliding(start0, prev0, cur0, cap, w, cost, now)
  local start, prev, cur = sliding_current(start0, prev0, cur0, w, now)
  local used = cur
  if prev > 0 then used = used + muldiv_ceil(prev, w - (now - start), w) end
  if cost <= cap and used + cost <= cap then
    local after = cur + cost
    local reset = now
    if after > 0 then reset = start + w + w elseif prev > 0 then reset = start + w end
    if cost > 0 then
      return 1, cap - used - cost, 0, reset - now, sliding_value(start, prev, after), reset
    end
    return 1, cap - used - cost, 0, reset - now
  end
  local retry
  if cost > cap then
    retry = -1
  elseif cur + cost <= cap then
    retry = start + first_fit(prev, w, cap - cur - cost) - now
  else
    retry = start + w + first_fit(cur, w, cap - cost) - now
  end
  local reset = now
  if cur > 0 then reset = start + w + w elseif prev > 0 then reset = start + w end
  local left = cap - used
  if left < 0 then left = 0 end
  return 0, left, retry, reset - now
end

-- GCRA in nanoseconds relative to now, exact while every time it handles stays below
-- 2^53 ns (about 104 days): the emission interval I = ceil(w * 10^6 / cap), the
-- bucket's depth burst * I (an arrival time up to that far ahead passes), and one
-- window of debt beyond it (CHARGE). Anything larger goes to the exact form.
local function gcra(tat_ms, tat_ns, cap, w, burst, cost, now, now_ns)
  local p = w * NS_PER_MS
  if p < TWO52 and now < 9000000000000 then
    local interval = divceil(p, cap)
    local depth = burst * interval
    local ceiling = depth + p
    if depth + ceiling < TWO53 then
      -- The arrival time, clamped to [now, now + ceiling]: later than that only a
      -- clock that stepped backwards can put it.
      local t = 0
      if tat_ms then
        local d = tat_ms - now
        -- (Past the ceiling by more than a millisecond, whatever the nanoseconds:
        -- d * 10^6 might not be exact.)
        if d > ceiling / NS_PER_MS + 1 then
          t = ceiling
        elseif d > 0 or (d == 0 and tat_ns > now_ns) then
          t = d * NS_PER_MS + tat_ns - now_ns
          if t > ceiling then t = ceiling end
        end
      end
      if cost <= burst then
        local after = t + cost * interval
        if after <= depth then
          local left = divfloor(depth - after, interval)
          if left > burst then left = burst end
          if cost > 0 then
            local ns = now_ns + after
            local ms = divfloor(ns, NS_PER_MS)
            ns = ns - ms * NS_PER_MS
            ms = now + ms
            local at = ms
            if ns > 0 then at = ms + 1 end
            return 1, left, 0, divceil(after, NS_PER_MS), gcra_value(ms, ns), at
          end
          return 1, left, 0, divceil(after, NS_PER_MS)
        end
      end
      local retry = -1
      if cost <= burst then retry = divceil(t + cost * interval - depth, NS_PER_MS) end
      local left = 0
      if t <= depth then
        left = divfloor(depth - t, interval)
        if left > burst then left = burst end
      end
      return 0, left, retry, divceil(t, NS_PER_MS)
    end
  end
  return (R or rare()).gcra(tat_ms, tat_ns, cap, w, burst, cost, now, now_ns)
end

local function log_entry(bytes, i) -- i from 1
  return (unpack_struct('<I6', bytes, 2 + (i - 1) * 6))
end

-- The index (from 1) of the first live entry, inside (now - W, now], by binary search
-- over the sorted entries (the module's `first_live`).
local function log_first_live(bytes, total, w, now)
  -- Most logs are live from their oldest entry on: one probe says so.
  if total == 0 or log_entry(bytes, 1) + w > now then return 1 end
  local lo, hi = 0, total
  while lo < hi do
    local mid = lo + floor((hi - lo) / 2)
    if log_entry(bytes, mid + 1) + w <= now then lo = mid + 1 else hi = mid end
  end
  return lo + 1
end

-- The stored entries first..last (from 1) as written again: any after now (a clock
-- that stepped backwards) as now.
local function log_entries(bytes, first, last, now)
  if last < first then return '' end
  local ahead = last + 1
  if log_entry(bytes, last) > now then
    local a, b = first - 1, last
    while a < b do
      local mid = a + floor((b - a) / 2)
      if log_entry(bytes, mid + 1) > now then b = mid else a = mid + 1 end
    end
    ahead = a + 1
  end
  local kept = sub(bytes, 2 + (first - 1) * 6, 1 + (ahead - 1) * 6)
  if ahead > last then return kept end
  return kept .. rep(pack('<I6', min(now, U48_MAX)), last - ahead + 1)
end

-- A LOG value: `head` (the tag and the entries kept), then `added` entries of now.
local function log_value(head, added, now)
  if added == 0 then return head end
  local entry = pack('<I6', min(now, U48_MAX))
  if added > 1 then entry = rep(entry, added) end
  return head .. entry
end

local function log(bytes, total, cap, w, cost, now)
  if not bytes then bytes, total = LOG_TAG, 0 end
  local first = log_first_live(bytes, total, w, now)
  local n = total - first + 1
  local reset, newest = 0, nil
  if n > 0 then
    newest = log_entry(bytes, total)
    reset = min(newest, now) + w - now
  end
  if cost <= cap and n + cost <= cap then
    if cost > 0 then
      -- The live entries, then one entry of now per unit of cost. When every stored
      -- entry is live and none is ahead of now, the stored value is the start.
      local value
      if first == 1 and (newest == nil or newest <= now) then
        value = log_value(bytes, cost, now)
      else
        value = log_value(LOG_TAG .. log_entries(bytes, first, total, now), cost, now)
      end
      return 1, cap - n - cost, 0, w, value, now + w
    end
    return 1, cap - n - cost, 0, reset
  end
  local retry = -1
  if cost <= cap then
    retry = min(log_entry(bytes, first + n + cost - cap - 1), now) + w - now
  end
  local left = cap - n
  if left < 0 then left = 0 end
  return 0, left, retry, reset
end

-- One decision, as src/algorithm/mod.rs `decide`, for a state of the same algorithm
-- (or none): the capacity (GCRA: the burst), then the algorithm's answer.
local function decide(alg, s1, s2, s3, cap, w, burst, cost, now, now_ns)
  if alg == 'fixed' then return cap, fixed(s1, s2, cap, w, cost, now) end
  if alg == 'sliding' then return cap, sliding(s1, s2, s3, cap, w, cost, now) end
  if alg == 'gcra' then
    local b = burst or cap
    return b, gcra(s1, s2, cap, w, b, cost, now, now_ns)
  end
  return cap, log(s1, s2, cap, w, cost, now)
end

--------------------------------------------------------------------------------------
-- Arguments (src/args.rs): each reader returns what it read, or false and the refusal
--------------------------------------------------------------------------------------

-- Options from args[i] to args[n]: the algorithm's name, BURST's and COST's strings
-- (nil when not given), MS, and where COSTS' values start. `ncosts` is MCHECK's number
-- of limits, the values COSTS takes (the other commands take no COSTS).
local function options(args, i, n, ncosts)
  local alg, burst, cost, ms, costs
  while i <= n do
    local word = args[i]
    if word ~= 'MS' and word ~= 'ALGORITHM' and word ~= 'COST' and word ~= 'BURST' then
      word = upper(word)
    end
    if word == 'MS' then
      if ms then return false, (R or rare()).given_twice(word) end
      ms = true
      i = i + 1
    elseif word == 'ALGORITHM' or word == 'COST' or word == 'BURST' then
      if i == n then return false, (R or rare()).needs_value(word) end
      local value = args[i + 1]
      if word == 'ALGORITHM' then
        local name = (value == 'FIXED' and 'fixed') or (value == 'GCRA' and 'gcra')
          or (value == 'SLIDING' and 'sliding') or (value == 'LOG' and 'log')
        if not name then name = (R or rare()).algorithm(value) end
        if not name then
          return false, 'ERR ALGORITHM must be one of FIXED, SLIDING, GCRA or LOG'
        end
        if alg then return false, (R or rare()).given_twice(word) end
        alg = name
      elseif word == 'COST' then
        if cost then return false, (R or rare()).given_twice(word) end
        cost = value
      else
        if burst then return false, (R or rare()).given_twice(word) end
        burst = value
      end
      i = i + 2
    elseif word == 'COSTS' and ncosts then
      if costs then return false, (R or rare()).given_twice(word) end
      if n - i < ncosts then return false, (R or rare()).needs_value(word) end
      costs = i + 1
      i = i + 1 + ncosts
    else
      return false, E_UNKNOWN_OPTION
    end
  end
  return alg or 'fixed', burst, cost, ms, costs
end

-- BURST and COST checked against the algorithm: true, the burst (nil: the limit's)
-- and the cost.
local function read_options(alg, burst_s, cost_s)
  local burst, cost = nil, 1
  if burst_s then
    if alg ~= 'gcra' then return false, 'ERR BURST applies only to ALGORITHM GCRA' end
    burst = uint(burst_s)
    if not burst or burst < 1 or burst > MAX_LIMIT then
      return false, 'ERR BURST must be an integer from 1 to 1000000000000'
    end
  end
  if cost_s then
    cost = uint(cost_s)
    if not cost or cost > MAX_LIMIT then return false, E_COST end
  end
  return true, burst, cost
end

-- One `limit window`: the limit and the window in ms.
local function read_limit(limit_s, window_s, alg, ms)
  local cap = uint(limit_s)
  if alg == 'log' and cap and cap > MAX_LOG_LIMIT and cap <= MAX_LIMIT then
    return false, 'ERR limit must be an integer from 1 to 4096 with ALGORITHM LOG'
  end
  if not cap or cap < 1 or cap > MAX_LIMIT then return false, E_LIMIT end
  local w = uint(window_s)
  if ms then
    if not w or w < 1 or w > MAX_WINDOW_MS then
      return false,
        'ERR window must be an integer number of milliseconds from 1 to 315576000000 (10 years) with MS'
    end
    return cap, w
  end
  if not w or w < 1 or w > MAX_WINDOW_MS / 1000 then
    return false, 'ERR window must be an integer number of seconds from 1 to 315576000 (10 years)'
  end
  return cap, w * 1000
end

-- `key limit window [options]` for CHECK and PEEK: the key, the request (algorithm,
-- limit, window, burst, cost), the clock and the key's state; or false and the
-- refusal.
local function one_key(keys, args, first, command)
  if #keys ~= 1 then return false, 'ERR ' .. command .. ' takes exactly one key' end
  local n = #args
  if n < first + 1 then return false, (R or rare()).wrong_arity(command) end
  local alg, burst_s, cost_s, ms = options(args, first + 2, n)
  if not alg then return false, burst_s end
  local ok, burst, cost = read_options(alg, burst_s, cost_s)
  if not ok then return false, burst end
  local cap, w = read_limit(args[first], args[first + 1], alg, ms)
  if not cap then return false, w end
  local now, now_ns = clock()
  local key = keys[1]
  local salg, s1, s2, s3 = load(key, now)
  if salg == false then return false, E_WRONGTYPE end
  if salg and salg ~= alg then return false, (R or rare()).other_algorithm(salg) end
  return key, alg, cap, w, burst, cost, now, now_ns, s1, s2, s3
end

--------------------------------------------------------------------------------------
-- Commands: each returns its reply, or an error reply
--------------------------------------------------------------------------------------

check = function(keys, args, first)
  local key, alg, cap, w, burst, cost, now, now_ns, s1, s2, s3 =
    one_key(keys, args, first, 'ratelimit_check')
  if not key then return error_reply(alg) end
  local c, allowed, left, retry, reset, value, at =
    decide(alg, s1, s2, s3, cap, w, burst, cost, now, now_ns)
  if value and not store(key, value, at) then return error_reply(E_WRITE_FAILED) end
  return { allowed, c, left, retry, reset }
end

-- What PEEK answers: the request's verdict, with remaining and reset of the state as
-- it is.
local function peek(alg, s1, s2, s3, cap, w, burst, cost, now, now_ns)
  local c, allowed, _, retry = decide(alg, s1, s2, s3, cap, w, burst, cost, now, now_ns)
  local _, _, left, _, reset = decide(alg, s1, s2, s3, cap, w, burst, 0, now, now_ns)
  return { allowed, c, left, retry, reset }
end

--------------------------------------------------------------------------------------
-- The rare helpers, made on first use
--------------------------------------------------------------------------------------

rare = function()
  R = {}

  -- Refusals built from words.
  function R.needs_value(keyword)
    if keyword == 'MS' then return 'ERR MS takes no value' end
    if keyword == 'COSTS' then return 'ERR COSTS needs one cost per limit' end
    return 'ERR ' .. keyword .. ' needs a value'
  end

  function R.given_twice(keyword)
    return 'ERR ' .. keyword .. ' given more than once'
  end

  function R.other_algorithm(name)
    return 'WRONGTYPE the key holds ALGORITHM ' .. upper(name)
      .. ' state: use the same ALGORITHM or delete the key'
  end

  function R.wrong_arity(command)
    return "ERR wrong number of arguments for '" .. command .. "' command"
  end

  -- An algorithm's name in any case, or nil.
  function R.algorithm(word)
    local w = upper(word)
    return (w == 'FIXED' and 'fixed') or (w == 'SLIDING' and 'sliding')
      or (w == 'GCRA' and 'gcra') or (w == 'LOG' and 'log') or nil
  end

  ------------------------------------------------------------------------------------
  -- Exact arithmetic
  ------------------------------------------------------------------------------------

  -- x * y as six base-2^18 limbs, exact for x, y < 2^54.
  local B18 = 262144
  local function wide(x, y)
    local x0 = x % B18; local xr = (x - x0) / B18
    local x1 = xr % B18; local x2 = (xr - x1) / B18
    local y0 = y % B18; local yr = (y - y0) / B18
    local y1 = yr % B18; local y2 = (yr - y1) / B18
    local c = { x0 * y0, x0 * y1 + x1 * y0, x0 * y2 + x1 * y1 + x2 * y0, x1 * y2 + x2 * y1, x2 * y2, 0 }
    for i = 1, 5 do
      local r = c[i] % B18
      c[i + 1] = c[i + 1] + (c[i] - r) / B18
      c[i] = r
    end
    return c
  end

  local function wide_less(a, b)
    for i = 6, 1, -1 do
      if a[i] ~= b[i] then return a[i] < b[i] end
    end
    return false
  end

  -- floor(a * b / c) for integers a, b, c < 2^53 whose quotient is below 2^53, the
  -- product past 2^53.
  function R.muldiv(a, b, c)
    local exact = wide(a, b)
    local q = floor(a * b / c)
    while q > 0 and wide_less(exact, wide(q, c)) do q = q - 1 end
    while not wide_less(exact, wide(q + 1, c)) do q = q + 1 end
    return q
  end

  -- ceil(a * b / c), the same bounds.
  function R.muldiv_ceil(a, b, c)
    local q = R.muldiv(a, b, c)
    if wide_less(wide(q, c), wide(a, b)) then return q + 1 end
    return q
  end

  -- Nanosecond times (u64 in the module) as (ms, ns): ms whole milliseconds, ns in
  -- [0, 10^6). Every u64 has one, with ms below 2^45.

  local function t_less(am, an, bm, bn)
    return am < bm or (am == bm and an < bn)
  end

  -- a + b, saturating at u64::MAX as the module's arithmetic does.
  local function t_add(am, an, bm, bn)
    local m, n = am + bm, an + bn
    if n >= NS_PER_MS then m, n = m + 1, n - NS_PER_MS end
    if t_less(U64_MAX_MS, U64_MAX_NS, m, n) then return U64_MAX_MS, U64_MAX_NS end
    return m, n
  end

  -- a - b, for a >= b.
  local function t_sub(am, an, bm, bn)
    local m, n = am - bm, an - bn
    if n < 0 then m, n = m - 1, n + NS_PER_MS end
    return m, n
  end

  -- Milliseconds, rounded up: a client that waits this long is never early.
  local function t_ceil_ms(m, n)
    if n > 0 then return m + 1 end
    return m
  end

  -- k * t for an integer k <= 2^40; the third result is true when the product is
  -- beyond u64::MAX (the first two are then u64::MAX).
  local function t_mul(k, tm, tn)
    local m = k * tm
    if m >= TWO53 then return U64_MAX_MS, U64_MAX_NS, true end
    -- k * tn can pass 2^53: split k at 10^6, so each product stays below 10^12.
    local kl = k % NS_PER_MS
    local kh = (k - kl) / NS_PER_MS
    local low = kl * tn
    local carry = divfloor(low, NS_PER_MS)
    m = m + kh * tn + carry
    local n = low - carry * NS_PER_MS
    if t_less(U64_MAX_MS, U64_MAX_NS, m, n) then return U64_MAX_MS, U64_MAX_NS, true end
    return m, n, false
  end

  -- min(floor(d / t), cap) for times d and t >= 1 ns and an integer cap <= 10^12.
  local function t_quotient(dm, dn, tm, tn, cap)
    local q = floor((dm * NS_PER_MS + dn) / (tm * NS_PER_MS + tn))
    if q > cap + 1 then return cap end
    -- The estimate is off by at most one: step it to the exact quotient.
    while q > 0 do
      local pm, pn, over = t_mul(q, tm, tn)
      if not over and not t_less(dm, dn, pm, pn) then break end
      q = q - 1
    end
    while q <= cap do
      local pm, pn, over = t_mul(q + 1, tm, tn)
      if over or t_less(dm, dn, pm, pn) then break end
      q = q + 1
    end
    return min(q, cap)
  end

  -- The emission interval ceil(window * 10^6 / limit) ns, as (ms, ns).
  local function interval(cap, w)
    local whole = divfloor(w, cap)
    local b = w - whole * cap
    -- ceil(b * 10^6 / cap), with b < cap <= 10^12: in two steps of 10^3, each exact.
    local c = divfloor(b * 1000, cap)
    local d = b * 1000 - c * cap
    local f = divfloor(d * 1000, cap)
    local ns = c * 1000 + f
    if d * 1000 - f * cap > 0 then ns = ns + 1 end
    if ns >= NS_PER_MS then return whole + 1, ns - NS_PER_MS end
    return whole, ns
  end

  R.t_less, R.t_add, R.t_sub, R.t_mul, R.t_quotient = t_less, t_add, t_sub, t_mul, t_quotient
  R.interval = interval

  ------------------------------------------------------------------------------------
  -- GCRA in exact time (src/algorithm/gcra.rs)
  ------------------------------------------------------------------------------------

  -- One call's GCRA: the interval, the horizon (now + burst intervals: an empty
  -- bucket) and the arrival time clamped to [now, the ceiling], the ceiling being the
  -- horizon plus one window of debt (CHARGE): later than that only a clock that
  -- stepped backwards can put it (src/algorithm/gcra.rs, Params::ceiling).
  local function setup(tat_ms, tat_ns, cap, w, burst, now, now_ns)
    local im, inn = interval(cap, w)
    local dm, dn = t_mul(burst, im, inn)
    local hm, hn = t_add(now, now_ns, dm, dn)
    local cm, cn = t_add(hm, hn, w, 0)
    local tm, tn = now, now_ns
    if tat_ms and not t_less(tat_ms, tat_ns, now, now_ns) then tm, tn = tat_ms, tat_ns end
    if t_less(cm, cn, tm, tn) then tm, tn = cm, cn end
    return im, inn, hm, hn, cm, cn, tm, tn
  end

  -- Whole units left before the arrival time t: none while in debt.
  local function left(hm, hn, im, inn, burst, tm, tn)
    if t_less(hm, hn, tm, tn) then return 0 end
    local dm, dn = t_sub(hm, hn, tm, tn)
    return t_quotient(dm, dn, im, inn, burst)
  end

  function R.gcra(tat_ms, tat_ns, cap, w, burst, cost, now, now_ns)
    local im, inn, hm, hn, _, _, tm, tn = setup(tat_ms, tat_ns, cap, w, burst, now, now_ns)
    -- Past the end of the u64 clock no arrival time can be kept: such a request never
    -- passes, as `remaining` (what fits under that end) says.
    local sm, sn, past = t_mul(cost, im, inn)
    local nm, nn = tm + sm, tn + sn
    if nn >= NS_PER_MS then nm, nn = nm + 1, nn - NS_PER_MS end
    past = past or t_less(U64_MAX_MS, U64_MAX_NS, nm, nn)
    if cost <= burst and not past and not t_less(hm, hn, nm, nn) then
      local reset = t_ceil_ms(t_sub(nm, nn, now, now_ns))
      local l = left(hm, hn, im, inn, burst, nm, nn)
      if cost > 0 then return 1, l, 0, reset, gcra_value(nm, nn), t_ceil_ms(nm, nn) end
      return 1, l, 0, reset
    end
    local retry = -1
    if cost <= burst and not past then retry = t_ceil_ms(t_sub(nm, nn, hm, hn)) end
    return 0, left(hm, hn, im, inn, burst, tm, tn), retry, t_ceil_ms(t_sub(tm, tn, now, now_ns))
  end

  ------------------------------------------------------------------------------------
  -- State forms the everyday path leaves here
  ------------------------------------------------------------------------------------

  -- One canonical LEB128 varint at s[at]: (value, next position), nil if malformed.
  local function read_varint(s, at)
    local v, scale = 0, 1
    for i = 0, 6 do
      local b = byte(s, at + i)
      if b == nil then return nil end
      v = v + (b % 128) * scale
      if b < 128 then
        if (i > 0 and b == 0) or v > U48_MAX then return nil end
        return v, at + i + 1
      end
      scale = scale * 128
    end
    return nil
  end

  function R.varint(v)
    v = min(v, U48_MAX)
    local out = {}
    while true do
      local low = v % 128
      v = (v - low) / 128
      if v == 0 then
        out[#out + 1] = char(low)
        return concat(out)
      end
      out[#out + 1] = char(low + 128)
    end
  end

  -- A SLIDING value of 9 to 21 bytes: its state, or false.
  function R.sliding_state(value)
    local prev, at = read_varint(value, 8)
    local cur
    if prev then cur, at = read_varint(value, at) end
    if cur and at == #value + 1 then return 'sliding', u48(value, 2), prev, cur end
    return false
  end

  -- The compact form (src/state.rs): a negative i64 in decimal, relative to the key's
  -- expiry. Its 64 bits as three base-2^24 limbs (top limb below 2^16), from the
  -- canonical text only; nil otherwise.
  local B24 = 16777216
  local function compact_bits(s)
    local digits = sub(s, 2)
    local n = #digits
    if n == 0 or n > 19 or byte(digits, 1) == 48 or not digits:find('^%d+$') then return nil end
    local l0, l1, l2 = 0, 0, 0
    for i = 1, n do
      l0 = l0 * 10 + byte(digits, i) - 48
      local c = floor(l0 / B24); l0 = l0 - c * B24
      l1 = l1 * 10 + c
      c = floor(l1 / B24); l1 = l1 - c * B24
      l2 = l2 * 10 + c
    end
    -- The magnitude must fit a negative i64: at most 2^63.
    if l2 > 32768 or (l2 == 32768 and (l1 > 0 or l0 > 0)) then return nil end
    -- Two's complement: 2^64 - magnitude.
    l0 = -l0; l1 = -l1; l2 = 65536 - l2
    if l0 < 0 then l0 = l0 + B24; l1 = l1 - 1 end
    if l1 < 0 then l1 = l1 + B24; l2 = l2 - 1 end
    return l0, l1, l2
  end
  R.compact_bits = compact_bits

  -- The key's absolute expiry in ms, or nil; `now_ms` serves servers without
  -- PEXPIRETIME (6.2), which read it as now + PTTL.
  local function expiry_of(key, now_ms)
    local at = rpcall('PEXPIRETIME', key)
    if type_(at) == 'number' then
      if at < 0 then return nil end
      return at
    end
    local ttl = rcall('PTTL', key)
    if ttl < 0 then return nil end
    return now_ms + ttl
  end

  -- A compact value's state (FIXED or GCRA), or false.
  function R.compact_state(s, key, now_ms)
    local l0, l1, l2 = compact_bits(s)
    if l0 == nil then return false end
    local tag = floor(l2 / 256)
    if tag ~= TAG_FIXED and tag ~= TAG_GCRA then return false end
    local expiry = expiry_of(key, now_ms)
    if expiry == nil then return false end
    local top = l2 % 256
    if tag == TAG_FIXED then
      -- 32 bits of (expiry - start), then a 24-bit count.
      local start = expiry - (top * B24 + l1)
      if start < 0 or start > U48_MAX then return false end
      return 'fixed', start, l0
    end
    -- 56 bits of expiry * 10^6 - tat, divided into ms and ns limb by limb.
    local q2 = floor(top / NS_PER_MS); local r = top - q2 * NS_PER_MS
    local v = r * B24 + l1; local q1 = floor(v / NS_PER_MS); r = v - q1 * NS_PER_MS
    v = r * B24 + l0; local q0 = floor(v / NS_PER_MS); r = v - q0 * NS_PER_MS
    local before_ms = (q2 * B24 + q1) * B24 + q0
    if expiry > U64_MAX_MS then return false end
    if t_less(expiry, 0, before_ms, r) then return false end
    return 'gcra', t_sub(expiry, 0, before_ms, r)
  end

  ------------------------------------------------------------------------------------
  -- CHARGE (src/algorithm/mod.rs `charge`): (state, limit, amount, now) -> what to
  -- store and the state it leaves: nil when nothing changes; false when nothing is
  -- left counted (the key goes); else the value, its expiry and the state's values.
  -- A positive amount counts whatever the state (past the limit the key is in debt),
  -- a negative one gives back what the state holds.
  ------------------------------------------------------------------------------------

  local function fixed_charge(start0, count0, _, w, amount, now)
    local cs, cc
    if start0 then
      local s = min(start0, now)
      if now < s + w then cs, cc = s, count0 end
    end
    local start, count
    if amount > 0 then
      start, count = cs or now, min((cc or 0) + amount, U48_MAX)
    elseif cs == nil then
      return nil
    else
      start, count = cs, cc - min(-amount, cc)
    end
    if start == cs and count == cc then return nil end
    if count == 0 then return false end
    return pack('<BI6I6', TAG_FIXED, min(start, U48_MAX), count), start + w, start, count
  end

  local function sliding_charge(start0, prev0, cur0, _, w, amount, now)
    local start, prev, cur = sliding_current(start0, prev0, cur0, w, now)
    local after
    if amount > 0 then after = min(cur + amount, U48_MAX) else after = cur - min(-amount, cur) end
    if after == cur then return nil end
    if after == 0 and prev == 0 then return false end
    local reset = start + w
    if after > 0 then reset = start + w + w end
    return sliding_value(start, prev, after), reset, start, prev, after
  end

  local function gcra_charge(tat_ms, tat_ns, cap, w, burst, amount, now, now_ns)
    local im, inn, _, _, cm, cn, tm, tn = setup(tat_ms, tat_ns, cap, w, burst, now, now_ns)
    local mm, mn
    if amount > 0 then
      local sm, sn = t_mul(amount, im, inn)
      mm, mn = t_add(tm, tn, sm, sn)
      if t_less(cm, cn, mm, mn) then mm, mn = cm, cn end
    else
      local sm, sn, over = t_mul(-amount, im, inn)
      if over or t_less(tm, tn, sm, sn) then
        mm, mn = now, now_ns
      else
        mm, mn = t_sub(tm, tn, sm, sn)
        if t_less(mm, mn, now, now_ns) then mm, mn = now, now_ns end
      end
    end
    if mm == tm and mn == tn then return nil end
    if mm == now and mn == now_ns then return false end
    return gcra_value(mm, mn), t_ceil_ms(mm, mn), mm, mn
  end

  -- Only the newest `limit` entries decide any request up to the limit, so a charge
  -- keeps just those (a later refund cannot bring back what it pushed out); a refund
  -- removes the newest live entries.
  local function log_charge(bytes, total, cap, w, amount, now)
    if not bytes then bytes, total = LOG_TAG, 0 end
    local first = log_first_live(bytes, total, w, now)
    local n = total - first + 1
    local from, kept, added
    if amount > 0 then
      added = min(amount, cap)
      kept = min(n, cap - added)
      from = total - kept + 1
    else
      local back = min(-amount, n)
      if back == 0 then return nil end
      from, kept, added = first, n - back, 0
    end
    if kept + added == 0 then return false end
    local value = log_value(LOG_TAG .. log_entries(bytes, from, from + kept - 1, now), added, now)
    local newest = now
    if added == 0 then newest = min(log_entry(bytes, from + kept - 1), now) end
    return value, newest + w, value, kept + added
  end

  -- A signed amount, as Redis reads an integer: an optional '-', then digits without
  -- leading zeros (no '-0'), within MAX_LIMIT either way.
  local function amount_of(s)
    local negative = byte(s, 1) == 45
    local v = uint(negative and sub(s, 2) or s)
    if v == nil or v > MAX_LIMIT or (negative and v == 0) then return nil end
    if negative then return -v end
    return v
  end

  -- CHARGE's `key limit window amount [options]`: no COST, the amount replaces it.
  -- The reply after the change: allowed 1, what is left, the wait until a request of
  -- cost 1 passes (0 if it would now), and until the state is full again.
  function R.charge(keys, args, first)
    if #keys ~= 1 then return error_reply('ERR ratelimit_charge takes exactly one key') end
    local n = #args
    if n < first + 2 then return error_reply(R.wrong_arity('ratelimit_charge')) end
    local alg, burst_s, cost_s, ms = options(args, first + 3, n)
    if not alg then return error_reply(burst_s) end
    if cost_s then return error_reply('ERR CHARGE takes no COST: the amount is its argument') end
    local ok, burst = read_options(alg, burst_s, nil)
    if not ok then return error_reply(burst) end
    local cap, w = read_limit(args[first], args[first + 1], alg, ms)
    if not cap then return error_reply(w) end
    local amount = amount_of(args[first + 2])
    if not amount then
      return error_reply('ERR amount must be an integer from -1000000000000 to 1000000000000')
    end
    local now, now_ns = clock()
    local key = keys[1]
    local salg, s1, s2, s3 = load(key, now)
    if salg == false then return error_reply(E_WRONGTYPE) end
    if salg and salg ~= alg then return error_reply(R.other_algorithm(salg)) end
    local value, at, a1, a2, a3
    if alg == 'fixed' then
      value, at, a1, a2 = fixed_charge(s1, s2, cap, w, amount, now)
    elseif alg == 'sliding' then
      value, at, a1, a2, a3 = sliding_charge(s1, s2, s3, cap, w, amount, now)
    elseif alg == 'gcra' then
      value, at, a1, a2 = gcra_charge(s1, s2, cap, w, burst or cap, amount, now, now_ns)
    else
      value, at, a1, a2 = log_charge(s1, s2, cap, w, amount, now)
    end
    if value == nil then
      a1, a2, a3 = s1, s2, s3
    elseif not store(key, value, at) then
      return error_reply(E_WRITE_FAILED)
    end
    local reply = peek(alg, a1, a2, a3, cap, w, burst, 1, now, now_ns)
    if reply[1] == 1 then reply[4] = 0 end
    reply[1] = 1
    return reply
  end

  return R
end

-- Any other CHECK under EVAL goes now, before the other commands are made.
if not redis.register_function and ARGV[1] == 'check' then
  return check(KEYS, ARGV, 2)
end

local function peek_command(keys, args, first)
  local key, alg, cap, w, burst, cost, now, now_ns, s1, s2, s3 =
    one_key(keys, args, first, 'ratelimit_peek')
  if not key then return error_reply(alg) end
  return peek(alg, s1, s2, s3, cap, w, burst, cost, now, now_ns)
end

-- MCHECK's `limit1 window1 .. limitN windowN [options]` for N keys: the algorithm,
-- the limits (limit and window, two entries each), the burst, and the cost of each;
-- or false and the refusal.
local function read_many(keys, args, first)
  local nk, n = #keys, #args
  if nk < 1 or nk > MAX_LIMITS then return false, 'ERR numlimits must be an integer from 1 to 64' end
  local mismatch = 'ERR numlimits does not match the number of key limit window triples'
  if n - first + 1 < 2 * nk then return false, mismatch end
  -- A tail shaped like another `limit window` pair means more pairs than keys.
  local tail = first + 2 * nk
  if tail + 1 <= n and uint(args[tail]) and uint(args[tail + 1]) then return false, mismatch end
  for i = 1, nk do
    for j = i + 1, nk do
      if keys[i] == keys[j] then return false, 'ERR the same key is given for two limits' end
    end
  end
  local alg, burst_s, cost_s, ms, costs_at = options(args, tail, n, nk)
  if not alg then return false, burst_s end
  local ok, burst, cost = read_options(alg, burst_s, cost_s)
  if not ok then return false, burst end
  -- Tables made at their size for one or two limits (the usual case): growing one
  -- costs as much as making it again.
  local costs = { 0, 0 }
  if costs_at then
    if cost_s then return false, 'ERR COST and COSTS cannot be given together' end
    for i = 1, nk do
      local c = uint(args[costs_at + i - 1])
      if not c or c > MAX_LIMIT then
        return false, 'ERR COSTS takes one integer from 0 to 1000000000000 per limit'
      end
      costs[i] = c
    end
  else
    for i = 1, nk do costs[i] = cost end
  end
  local limits = { 0, 0, 0, 0 }
  for i = 1, nk do
    local cap, w = read_limit(args[first + 2 * i - 2], args[first + 2 * i - 1], alg, ms)
    if not cap then return false, w end
    limits[2 * i - 1], limits[2 * i] = cap, w
  end
  return alg, limits, burst, costs
end

-- All or nothing: the request counts against every limit only if each allows it.
local function mcheck(keys, args, first)
  local nk = #keys
  if nk >= 1 and #args < first + 1 then
    return error_reply((R or rare()).wrong_arity('ratelimit_mcheck'))
  end
  local alg, limits, burst, costs = read_many(keys, args, first)
  if not alg then return error_reply(limits) end
  local now, now_ns = clock()
  -- Each key's state, four entries a key: its algorithm (false: none), then values
  -- (made at their size for two keys, as in `read_many`).
  local states = { false, false, false, false, false, false, false, false }
  for i = 1, nk do
    local salg, s1, s2, s3 = load(keys[i], now)
    if salg == false then return error_reply(E_WRONGTYPE) end
    states[4 * i - 3], states[4 * i - 2], states[4 * i - 1], states[4 * i] = salg or false, s1, s2, s3
  end
  for i = 1, nk do
    local salg = states[4 * i - 3]
    if salg and salg ~= alg then return error_reply((R or rare()).other_algorithm(salg)) end
  end
  local answer, updates, allowed = { 1 }, { false, false, false, false }, 1
  if nk == 2 then answer = { 1, false, false } elseif nk == 1 then answer = { 1, false } end
  for i = 1, nk do
    local j = 4 * i
    local c, ok, left, retry, reset, value, at = decide(alg, states[j - 2], states[j - 1],
      states[j], limits[2 * i - 1], limits[2 * i], burst, costs[i], now, now_ns)
    answer[i + 1] = { ok, c, left, retry, reset }
    updates[2 * i - 1], updates[2 * i] = value or false, at
    if ok == 0 then allowed = 0 end
  end
  if allowed == 1 then
    for i = 1, nk do
      local value = updates[2 * i - 1]
      if value and not store(keys[i], value, updates[2 * i]) then
        return error_reply(E_WRITE_FAILED)
      end
    end
    return answer
  end
  answer[1] = 0
  for i = 1, nk do
    local j = 4 * i
    answer[i + 1] = peek(alg, states[j - 2], states[j - 1], states[j], limits[2 * i - 1],
      limits[2 * i], burst, costs[i], now, now_ns)
  end
  return answer
end

local function charge(keys, args, first)
  return (R or rare()).charge(keys, args, first)
end

local function version()
  return VERSION
end

if redis.register_function then
  NUMBERS = {}
  local function registered(body)
    return function(keys, args)
      if floor == nil then bind() end
      return body(keys, args, 1)
    end
  end
  redis.register_function('ratelimit_check', fixed_check)
  redis.register_function{
    function_name = 'ratelimit_peek',
    callback = registered(peek_command),
    flags = { 'no-writes' },
  }
  redis.register_function('ratelimit_mcheck', registered(mcheck))
  redis.register_function('ratelimit_charge', registered(charge))
  redis.register_function{
    function_name = 'ratelimit_version',
    callback = version,
    flags = { 'no-writes', 'allow-stale' },
  }
  return
end

-- EVAL / EVALSHA: the command's name comes first among the arguments.
bind()
local COMMANDS = { peek = peek_command, mcheck = mcheck, charge = charge, check = check }
local name = ARGV[1]
if name == 'version' then return VERSION end
local body = name and COMMANDS[string.lower(name)]
if body == nil then
  return redis.error_reply('ERR the first argument must be check, peek, mcheck, charge or version')
end
return body(KEYS, ARGV, 2)
