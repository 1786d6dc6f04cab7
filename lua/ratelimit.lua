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
]]

local VERSION = '0.3.0'

local NS_PER_MS = 1000000
local MAX_LIMIT = 1000000000000
local MAX_WINDOW_MS = 315576000000
local MAX_LOG_LIMIT = 4096
local MAX_LIMITS = 64
local U48_MAX = 281474976710655
local TWO53 = 9007199254740992
-- u64::MAX as whole milliseconds and the nanoseconds beyond them.
local U64_MAX_MS, U64_MAX_NS = 18446744073709, 551615

-- The standard libraries, bound on the first call: FUNCTION LOAD runs this file in an
-- environment without them, and a global lookup per use would cost every call.
local floor, min, max, byte, char, sub, upper, rep, concat, pack, unpack_struct
local function bind()
  floor, min, max = math.floor, math.min, math.max
  byte, char, sub, upper, rep = string.byte, string.char, string.sub, string.upper, string.rep
  concat, pack, unpack_struct = table.concat, struct.pack, struct.unpack
end

-- The module's error texts (src/args.rs, src/failure.rs); a test holds them equal.
local E = {
  limit = 'ERR limit must be an integer from 1 to 1000000000000',
  window = 'ERR window must be an integer number of seconds from 1 to 315576000 (10 years)',
  window_ms = 'ERR window must be an integer number of milliseconds from 1 to 315576000000 (10 years) with MS',
  cost = 'ERR COST must be an integer from 0 to 1000000000000',
  burst = 'ERR BURST must be an integer from 1 to 1000000000000',
  burst_needs_gcra = 'ERR BURST applies only to ALGORITHM GCRA',
  log_limit = 'ERR limit must be an integer from 1 to 4096 with ALGORITHM LOG',
  unknown_algorithm = 'ERR ALGORITHM must be one of FIXED, SLIDING, GCRA or LOG',
  unknown_option = 'ERR unknown option: expected ALGORITHM, BURST, COST or MS (COSTS with MCHECK)',
  numlimits = 'ERR numlimits must be an integer from 1 to 64',
  numlimits_mismatch = 'ERR numlimits does not match the number of key limit window triples',
  duplicate_key = 'ERR the same key is given for two limits',
  amount = 'ERR amount must be an integer from -1000000000000 to 1000000000000',
  charge_cost = 'ERR CHARGE takes no COST: the amount is its argument',
  costs = 'ERR COSTS takes one integer from 0 to 1000000000000 per limit',
  cost_and_costs = 'ERR COST and COSTS cannot be given together',
  wrongtype = 'WRONGTYPE Operation against a key holding the wrong kind of value',
  write_failed = 'ERR could not write the rate-limit state',
}

local function missing_value(keyword)
  if keyword == 'MS' then return 'ERR MS takes no value' end
  if keyword == 'COSTS' then return 'ERR COSTS needs one cost per limit' end
  return 'ERR ' .. keyword .. ' needs a value'
end

local function duplicate(keyword)
  return 'ERR ' .. keyword .. ' given more than once'
end

local function other_algorithm(name)
  return 'WRONGTYPE the key holds ALGORITHM ' .. upper(name)
    .. ' state: use the same ALGORITHM or delete the key'
end

local function wrong_arity(command)
  return "ERR wrong number of arguments for '" .. command .. "' command"
end

-- A refusal travels up as a table, so that Lua's own errors are never mistaken for
-- one; `run` turns it into the error reply.
local function refuse(message)
  error({ ratelimit = message }, 0)
end

--------------------------------------------------------------------------------------
-- Exact arithmetic
--------------------------------------------------------------------------------------

-- floor(n / d) for integers n < 2^53, d >= 1: the double quotient may round up to the
-- next integer when the remainder is tiny, so the remainder decides.
local function divfloor(n, d)
  local q = floor(n / d)
  local r = n - q * d
  if r < 0 then return q - 1 elseif r >= d then return q + 1 end
  return q
end

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

-- floor(a * b / c) for integers a, b, c < 2^53 whose quotient is below 2^53.
local function muldiv(a, b, c)
  local p = a * b
  if p < TWO53 then return divfloor(p, c) end
  local exact = wide(a, b)
  local q = floor(p / c)
  while q > 0 and wide_less(exact, wide(q, c)) do q = q - 1 end
  while not wide_less(exact, wide(q + 1, c)) do q = q + 1 end
  return q
end

-- ceil(a * b / c), the same bounds.
local function muldiv_ceil(a, b, c)
  local q = muldiv(a, b, c)
  local p = a * b
  if p < TWO53 then
    if q * c < p then return q + 1 end
    return q
  end
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

--------------------------------------------------------------------------------------
-- Arguments (src/args.rs)
--------------------------------------------------------------------------------------

-- A strict unsigned decimal, as Redis reads one: digits only, no sign, no leading
-- zero, at most u64::MAX. Beyond 2^53 the value is approximate, which only matters
-- for telling it is out of every range.
local function parse_u64(s)
  local n = #s
  if n == 0 or n > 20 or (n > 1 and byte(s, 1) == 48) or not s:find('^%d+$') then
    return nil
  end
  if n == 20 and s > '18446744073709551615' then return nil end
  return tonumber(s)
end

local function in_range(s, lo, hi, message)
  local v = parse_u64(s)
  if v == nil or v < lo or v > hi then refuse(message) end
  return v
end

local KEYWORDS = { ALGORITHM = 'ALGORITHM', BURST = 'BURST', COST = 'COST', COSTS = 'COSTS', MS = 'MS' }
local ALGORITHMS = { FIXED = 'fixed', SLIDING = 'sliding', GCRA = 'gcra', LOG = 'log' }

-- No options: shared, never changed (most calls take none).
local NO_OPTIONS = {}
local DEFAULT_OPTIONS = { algorithm = 'fixed', cost = 1 }

-- Options as given, from args[i] on: { algorithm, burst, cost, costs, ms }. `ncosts`
-- is MCHECK's number of limits, the values COSTS takes (the others take no COSTS).
local function parse_options(args, i, ncosts)
  local n = #args
  if i > n then return NO_OPTIONS end
  local raw = {}
  while i <= n do
    local keyword = KEYWORDS[upper(args[i])]
    if keyword == nil or (keyword == 'COSTS' and ncosts == nil) then refuse(E.unknown_option) end
    if keyword == 'MS' then
      if raw.ms then refuse(duplicate('MS')) end
      raw.ms = true
      i = i + 1
    elseif keyword == 'COSTS' then
      if raw.costs then refuse(duplicate('COSTS')) end
      if n - i < ncosts then refuse(missing_value('COSTS')) end
      raw.costs = i + 1
      i = i + 1 + ncosts
    else
      if i == n then refuse(missing_value(keyword)) end
      local value = args[i + 1]
      if keyword == 'ALGORITHM' then
        local algorithm = ALGORITHMS[upper(value)]
        if algorithm == nil then refuse(E.unknown_algorithm) end
        if raw.algorithm then refuse(duplicate(keyword)) end
        raw.algorithm = algorithm
      elseif keyword == 'BURST' then
        if raw.burst then refuse(duplicate(keyword)) end
        raw.burst = value
      else
        if raw.cost then refuse(duplicate(keyword)) end
        raw.cost = value
      end
      i = i + 2
    end
  end
  return raw
end

-- The options checked against each other: { algorithm, burst (or nil), cost, ms }.
local function check_options(raw)
  if raw == NO_OPTIONS then return DEFAULT_OPTIONS end
  local o = { algorithm = raw.algorithm or 'fixed', cost = 1, ms = raw.ms }
  if raw.burst then
    if o.algorithm ~= 'gcra' then refuse(E.burst_needs_gcra) end
    o.burst = in_range(raw.burst, 1, MAX_LIMIT, E.burst)
  end
  if raw.cost then o.cost = in_range(raw.cost, 0, MAX_LIMIT, E.cost) end
  return o
end

-- One limit: { limit, window (ms) }.
local function parse_limit(limit, window, o)
  local l
  if o.algorithm == 'log' then
    local v = parse_u64(limit)
    if v and v >= 1 and v <= MAX_LIMIT and v > MAX_LOG_LIMIT then refuse(E.log_limit) end
  end
  l = in_range(limit, 1, MAX_LIMIT, E.limit)
  local w
  if o.ms then
    w = in_range(window, 1, MAX_WINDOW_MS, E.window_ms)
  else
    w = in_range(window, 1, MAX_WINDOW_MS / 1000, E.window) * 1000
  end
  return { limit = l, window = w }
end

-- `limit window [options]` from args[first] on.
local function parse_one(args, first)
  local o = check_options(parse_options(args, first + 2))
  return parse_limit(args[first], args[first + 1], o), o
end

-- MCHECK's `limit1 window1 .. limitN windowN [options]` for N keys.
local function parse_many(keys, args, first)
  local n = #keys
  if n < 1 or n > MAX_LIMITS then refuse(E.numlimits) end
  local available = #args - first + 1
  if available < 2 * n then refuse(E.numlimits_mismatch) end
  -- A tail shaped like another `limit window` pair means more pairs than keys.
  local tail = first + 2 * n
  if tail + 1 <= #args and KEYWORDS[upper(args[tail])] == nil
      and parse_u64(args[tail]) and parse_u64(args[tail + 1]) then
    refuse(E.numlimits_mismatch)
  end
  for i = 1, n do
    for j = i + 1, n do
      if keys[i] == keys[j] then refuse(E.duplicate_key) end
    end
  end
  local raw = parse_options(args, tail, n)
  local o = check_options(raw)
  local costs
  if raw.costs then
    if raw.cost then refuse(E.cost_and_costs) end
    costs = {}
    for i = 1, n do costs[i] = in_range(args[raw.costs + i - 1], 0, MAX_LIMIT, E.costs) end
  end
  local limits = {}
  for i = 1, n do
    limits[i] = parse_limit(args[first + 2 * i - 2], args[first + 2 * i - 1], o)
  end
  return limits, o, costs
end

-- A signed amount, as Redis reads an integer: an optional '-', then digits without
-- leading zeros (no '-0'), within MAX_LIMIT either way.
local function parse_amount(s)
  local negative = byte(s, 1) == 45
  local v = parse_u64(negative and sub(s, 2) or s)
  if v == nil or v > MAX_LIMIT or (negative and v == 0) then refuse(E.amount) end
  if negative then return -v end
  return v
end

-- CHARGE's `limit window amount [options]` from args[first] on: no COST, the amount
-- replaces it.
local function parse_charge(args, first)
  local raw = parse_options(args, first + 3)
  if raw.cost then refuse(E.charge_cost) end
  local o = check_options(raw)
  local limit = parse_limit(args[first], args[first + 1], o)
  return limit, o, parse_amount(args[first + 2])
end

--------------------------------------------------------------------------------------
-- State (src/state.rs): a tag byte, then little-endian fields
--------------------------------------------------------------------------------------

local TAG_FIXED, TAG_SLIDING, TAG_GCRA, TAG_LOG = 0xA1, 0xA2, 0xA3, 0xA4

local function u48(s, at)
  return (unpack_struct('<I6', s, at))
end

local function pack_u48(v)
  return pack('<I6', min(v, U48_MAX))
end

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

local function write_varint(v)
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

-- u64 little-endian bytes <-> (ms, ns). A u64 is hi * 2^32 + lo, and
-- 2^32 = 4294 * 10^6 + 967296.
local function read_time(s, at)
  local lo, hi = unpack_struct('<I4I4', s, at)
  local rest = hi * 967296 + lo
  local carry = divfloor(rest, NS_PER_MS)
  return hi * 4294 + carry, rest - carry * NS_PER_MS
end

local function pack_time(m, n)
  -- t = m * 10^6 + n; split m at 2^20 so that each part's product stays exact.
  local ml = m % 1048576
  local x = (m - ml) / 1048576 * NS_PER_MS
  local y = ml * NS_PER_MS + n
  local carry = divfloor(y, 1048576)
  x, y = x + carry, y - carry * 1048576
  -- t = x * 2^20 + y, y < 2^20: the low 32 bits are x's low 12 bits and y.
  local xl = x % 4096
  return pack('<I4I4', xl * 1048576 + y, (x - xl) / 4096)
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

-- The key's absolute expiry in ms, or nil; `now_ms` serves servers without
-- PEXPIRETIME (6.2), which read it as now + PTTL.
local function expiry_of(key, now_ms)
  local at = redis.pcall('PEXPIRETIME', key)
  if type(at) == 'number' then
    if at < 0 then return nil end
    return at
  end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return nil end
  return now_ms + ttl
end

local function decode_compact(s, key, now_ms)
  local l0, l1, l2 = compact_bits(s)
  if l0 == nil then return nil end
  local tag = floor(l2 / 256)
  if tag ~= TAG_FIXED and tag ~= TAG_GCRA then return nil end
  local expiry = expiry_of(key, now_ms)
  if expiry == nil then return nil end
  local top = l2 % 256
  if tag == TAG_FIXED then
    -- 32 bits of (expiry - start), then a 24-bit count.
    local start = expiry - (top * B24 + l1)
    if start < 0 or start > U48_MAX then return nil end
    return { algorithm = 'fixed', start = start, count = l0 }
  end
  -- 56 bits of expiry * 10^6 - tat, divided into ms and ns limb by limb.
  local q2 = floor(top / NS_PER_MS); local r = top - q2 * NS_PER_MS
  local v = r * B24 + l1; local q1 = floor(v / NS_PER_MS); r = v - q1 * NS_PER_MS
  v = r * B24 + l0; local q0 = floor(v / NS_PER_MS); r = v - q0 * NS_PER_MS
  local before_ms = (q2 * B24 + q1) * B24 + q0
  if expiry > U64_MAX_MS then return nil end
  if t_less(expiry, 0, before_ms, r) then return nil end
  local tm, tn = t_sub(expiry, 0, before_ms, r)
  return { algorithm = 'gcra', tat_ms = tm, tat_ns = tn }
end

-- The state stored under `key`, nil for a missing key; WRONGTYPE for anything that is
-- not this module's state.
local function load(key, now_ms)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' then refuse(E.wrongtype) end
  if not value then return nil end
  local state
  local tag, length = byte(value, 1), #value
  if tag == 45 then -- '-'
    state = decode_compact(value, key, now_ms)
  elseif tag == TAG_FIXED and length == 13 then
    local _, start, count = unpack_struct('<BI6I6', value)
    state = { algorithm = 'fixed', start = start, count = count }
  elseif tag == TAG_SLIDING and length >= 9 and length <= 21 then
    local prev, at = read_varint(value, 8)
    local cur
    if prev then cur, at = read_varint(value, at) end
    if cur and at == length + 1 then
      state = { algorithm = 'sliding', start = u48(value, 2), prev = prev, cur = cur }
    end
  elseif tag == TAG_GCRA and length == 9 then
    local m, n = read_time(value, 2)
    state = { algorithm = 'gcra', tat_ms = m, tat_ns = n }
  elseif tag == TAG_LOG and (length - 1) % 6 == 0 then
    local count = (length - 1) / 6
    -- Oldest first; only the ends are checked, as the module does.
    if count == 0 or u48(value, 2) <= u48(value, length - 5) then
      state = { algorithm = 'log', bytes = value, count = count }
    end
  end
  if state == nil then refuse(E.wrongtype) end
  return state
end

--------------------------------------------------------------------------------------
-- Algorithms (src/algorithm/): (state, limit, cost, now) -> reply, update
--
-- A reply is the five integers; an update { value, at } is what an allowed call that
-- counts something stores, and when the key expires (Unix ms).
--------------------------------------------------------------------------------------

local function fixed(st, limit, cost, now)
  local cap, window = limit.limit, limit.window
  local start, count = now, 0
  if st then
    -- A clock that stepped backwards puts the start in the future: the window is
    -- taken to start now, and the count is kept.
    local s = min(st.start, now)
    if now < s + window then start, count = s, st.count end
  end
  local finish = start + window
  local until_end = max(finish - now, 0)
  local after = count + cost
  if after <= cap then
    local reset = 0
    if after > 0 then reset = until_end end
    local update
    if cost > 0 then
      update = { value = pack('<BI6I6', TAG_FIXED, min(start, U48_MAX), min(after, U48_MAX)), at = finish }
    end
    return { 1, cap, cap - after, 0, reset }, update
  end
  local retry = until_end
  if cost > cap then retry = -1 end
  local reset = 0
  if count > 0 then reset = until_end end
  return { 0, cap, max(cap - count, 0), retry, reset }
end

-- ceil(prev * (w - e) / w): the previous window's count still inside the last W.
local function carried(prev, w, e)
  return muldiv_ceil(prev, max(w - e, 0), w)
end

-- The smallest e in [0, w] at which carried(prev, w, e) <= allowance.
local function first_fit(prev, w, allowance)
  if prev <= allowance then return 0 end
  return w - min(muldiv(allowance, w, prev), w)
end

-- The windows as they stand at now: rolled forward, or fresh.
local function sliding_current(st, w, now)
  if st then
    -- A clock that stepped backwards puts the start in the future: taken as now.
    local s = min(st.start, now)
    local periods = divfloor(now - s, w)
    if periods == 0 then return s, st.prev, st.cur end
    if periods == 1 then return s + w, st.cur, 0 end
  end
  return now, 0, 0
end

local function sliding(st, limit, cost, now)
  local cap, w = limit.limit, limit.window
  local start, prev, cur = sliding_current(st, w, now)
  local e = now - start
  local used = carried(prev, w, e) + cur
  local function reset_at(current)
    if current > 0 then return start + 2 * w end
    if prev > 0 then return start + w end
    return now
  end
  if cost <= cap and used + cost <= cap then
    local new_cur = cur + cost
    local reset = reset_at(new_cur)
    local update
    if cost > 0 then
      update = {
        value = char(TAG_SLIDING) .. pack_u48(start) .. write_varint(prev) .. write_varint(new_cur),
        at = reset,
      }
    end
    return { 1, cap, cap - used - cost, 0, reset - now }, update
  end
  local retry
  if cost > cap then
    retry = -1
  elseif cur + cost <= cap then
    retry = start + first_fit(prev, w, cap - cur - cost) - now
  else
    retry = start + w + first_fit(cur, w, cap - cost) - now
  end
  return { 0, cap, max(cap - used, 0), retry, reset_at(cur) - now }
end

-- The emission interval ceil(window * 10^6 / limit) ns, as (ms, ns).
local function interval(limit)
  local w, l = limit.window, limit.limit
  local whole = divfloor(w, l)
  local b = w - whole * l
  -- ceil(b * 10^6 / l), with b < l <= 10^12: in two steps of 10^3, each exact.
  local c = divfloor(b * 1000, l)
  local d = b * 1000 - c * l
  local f = divfloor(d * 1000, l)
  local ns = c * 1000 + f
  if d * 1000 - f * l > 0 then ns = ns + 1 end
  if ns >= NS_PER_MS then return whole + 1, ns - NS_PER_MS end
  return whole, ns
end

-- One call's GCRA: capacity, interval, the horizon (now + capacity: an empty bucket)
-- and the arrival time clamped to [now, the ceiling], the ceiling being the horizon
-- plus one window of debt (CHARGE): later than that only a clock that stepped
-- backwards can put it (src/algorithm/gcra.rs, Params::ceiling).
local function gcra_setup(st, limit, o, now, now_ns)
  local g = { burst = max(o.burst or limit.limit, 1) }
  g.im, g.inn = interval(limit)
  local tol_m, tol_n = t_mul(g.burst, g.im, g.inn)
  g.hm, g.hn = t_add(now, now_ns, tol_m, tol_n)
  g.cm, g.cn = t_add(g.hm, g.hn, limit.window, 0)
  g.tm, g.tn = now, now_ns
  if st and not t_less(st.tat_ms, st.tat_ns, now, now_ns) then g.tm, g.tn = st.tat_ms, st.tat_ns end
  if t_less(g.cm, g.cn, g.tm, g.tn) then g.tm, g.tn = g.cm, g.cn end
  return g
end

-- Whole units left before the arrival time t: none while in debt.
local function gcra_left(g, tm, tn)
  if t_less(g.hm, g.hn, tm, tn) then return 0 end
  local dm, dn = t_sub(g.hm, g.hn, tm, tn)
  return t_quotient(dm, dn, g.im, g.inn, g.burst)
end

local function gcra(st, limit, o, cost, now, now_ns)
  local g = gcra_setup(st, limit, o, now, now_ns)
  local burst = g.burst
  local sm, sn = t_mul(cost, g.im, g.inn)
  local nm, nn = t_add(g.tm, g.tn, sm, sn)
  if cost <= burst and not t_less(g.hm, g.hn, nm, nn) then
    local update
    if cost > 0 then
      update = { value = char(TAG_GCRA) .. pack_time(nm, nn), at = t_ceil_ms(nm, nn) }
    end
    return { 1, burst, gcra_left(g, nm, nn), 0, t_ceil_ms(t_sub(nm, nn, now, now_ns)) }, update
  end
  local retry = -1
  if cost <= burst then retry = t_ceil_ms(t_sub(nm, nn, g.hm, g.hn)) end
  return { 0, burst, gcra_left(g, g.tm, g.tn), retry, t_ceil_ms(t_sub(g.tm, g.tn, now, now_ns)) }
end

local function log_entry(bytes, i) -- i from 1
  return u48(bytes, 2 + (i - 1) * 6)
end

-- The index (from 1) of the first live entry, inside (now - W, now], by binary search
-- over the sorted entries (the module's `first_live`, probe for probe).
local function log_first_live(bytes, total, w, now)
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
  return sub(bytes, 2 + (first - 1) * 6, 1 + (ahead - 1) * 6) .. rep(pack_u48(now), last - ahead + 1)
end

-- A stored log (or none) and its live part: the bytes, how many entries, the index of
-- the first live one, and how many are live.
local function log_live(st, w, now)
  local bytes, total = '', 0
  if st then bytes, total = st.bytes, st.count end
  local first = log_first_live(bytes, total, w, now)
  return bytes, total, first, total - first + 1
end

local function log(st, limit, cost, now)
  local cap, w = limit.limit, limit.window
  local bytes, total, first, n = log_live(st, w, now)
  local function at(i) return min(log_entry(bytes, i), now) end
  local reset = 0
  if n > 0 then reset = at(total) + w - now end
  if cost <= cap and n + cost <= cap then
    local update
    if cost > 0 then
      -- The live entries, then one entry of now per unit of cost.
      update = {
        value = char(TAG_LOG) .. log_entries(bytes, first, total, now) .. rep(pack_u48(now), cost),
        at = now + w,
      }
    end
    local r = reset
    if cost > 0 then r = w end
    return { 1, cap, cap - n - cost, 0, r }, update
  end
  local retry = -1
  if cost <= cap then
    local must_leave = n + cost - cap
    retry = at(first + must_leave - 1) + w - now
  end
  return { 0, cap, max(cap - n, 0), retry, reset }
end

-- One decision, as src/algorithm/mod.rs `decide`: the reply and the update.
local function decide(st, limit, o, cost, now, now_ns)
  if st and st.algorithm ~= o.algorithm then refuse(other_algorithm(st.algorithm)) end
  if o.algorithm == 'fixed' then return fixed(st, limit, cost, now) end
  if o.algorithm == 'sliding' then return sliding(st, limit, cost, now) end
  if o.algorithm == 'gcra' then return gcra(st, limit, o, cost, now, now_ns) end
  return log(st, limit, cost, now)
end

-- What PEEK answers: the request's verdict, with remaining and reset of the state as
-- it is.
local function peek(st, limit, o, cost, now, now_ns)
  local request = decide(st, limit, o, cost, now, now_ns)
  local as_is = decide(st, limit, o, 0, now, now_ns)
  return { request[1], request[2], as_is[3], request[4], as_is[5] }
end

--------------------------------------------------------------------------------------
-- CHARGE (src/algorithm/mod.rs `charge`): (state, limit, amount, now) -> the update
-- and the state it leaves, nil when nothing changes. A positive amount counts whatever
-- the state (past the limit the key is in debt), a negative one gives back what the
-- state holds; GONE: nothing is left counted, and the key goes.
--------------------------------------------------------------------------------------

local GONE = { gone = true }

local function fixed_charge(st, limit, amount, now)
  local window = limit.window
  local cs, cc
  if st then
    local s = min(st.start, now)
    if now < s + window then cs, cc = s, st.count end
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
  if count == 0 then return GONE end
  local value = pack('<BI6I6', TAG_FIXED, min(start, U48_MAX), count)
  return { value = value, at = start + window }, { algorithm = 'fixed', start = start, count = count }
end

local function sliding_charge(st, limit, amount, now)
  local w = limit.window
  local start, prev, cur = sliding_current(st, w, now)
  local after
  if amount > 0 then after = min(cur + amount, U48_MAX) else after = cur - min(-amount, cur) end
  if after == cur then return nil end
  if after == 0 and prev == 0 then return GONE end
  local reset = start + w
  if after > 0 then reset = start + 2 * w end
  local value = char(TAG_SLIDING) .. pack_u48(start) .. write_varint(prev) .. write_varint(after)
  return { value = value, at = reset },
    { algorithm = 'sliding', start = start, prev = prev, cur = after }
end

local function gcra_charge(st, limit, o, amount, now, now_ns)
  local g = gcra_setup(st, limit, o, now, now_ns)
  local mm, mn
  if amount > 0 then
    local sm, sn = t_mul(amount, g.im, g.inn)
    mm, mn = t_add(g.tm, g.tn, sm, sn)
    if t_less(g.cm, g.cn, mm, mn) then mm, mn = g.cm, g.cn end
  else
    local sm, sn, over = t_mul(-amount, g.im, g.inn)
    if over or t_less(g.tm, g.tn, sm, sn) then
      mm, mn = now, now_ns
    else
      mm, mn = t_sub(g.tm, g.tn, sm, sn)
      if t_less(mm, mn, now, now_ns) then mm, mn = now, now_ns end
    end
  end
  if mm == g.tm and mn == g.tn then return nil end
  if mm == now and mn == now_ns then return GONE end
  return { value = char(TAG_GCRA) .. pack_time(mm, mn), at = t_ceil_ms(mm, mn) },
    { algorithm = 'gcra', tat_ms = mm, tat_ns = mn }
end

-- Only the newest `limit` entries decide any request up to the limit, so a charge
-- keeps just those (a later refund cannot bring back what it pushed out); a refund
-- removes the newest live entries.
local function log_charge(st, limit, amount, now)
  local cap, w = limit.limit, limit.window
  local bytes, total, first, n = log_live(st, w, now)
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
  if kept + added == 0 then return GONE end
  local entries = log_entries(bytes, from, from + kept - 1, now) .. rep(pack_u48(now), added)
  local newest = now
  if added == 0 then newest = min(log_entry(bytes, from + kept - 1), now) end
  local value = char(TAG_LOG) .. entries
  return { value = value, at = newest + w }, { algorithm = 'log', bytes = value, count = kept + added }
end

-- The reply after a charge: allowed 1, what is left, the wait until a request of cost
-- 1 passes (0 if it would now), and until the state is full again.
local function charge(st, limit, o, amount, now, now_ns)
  if st and st.algorithm ~= o.algorithm then refuse(other_algorithm(st.algorithm)) end
  local update, after
  if o.algorithm == 'fixed' then
    update, after = fixed_charge(st, limit, amount, now)
  elseif o.algorithm == 'sliding' then
    update, after = sliding_charge(st, limit, amount, now)
  elseif o.algorithm == 'gcra' then
    update, after = gcra_charge(st, limit, o, amount, now, now_ns)
  else
    update, after = log_charge(st, limit, amount, now)
  end
  if update == nil then after = st end
  local next = peek(after, limit, o, 1, now, now_ns)
  if next[1] == 1 then next[4] = 0 end
  next[1] = 1
  return next, update
end

--------------------------------------------------------------------------------------
-- Commands
--------------------------------------------------------------------------------------

-- The server's clock, read once per call: Unix ms, and the ns within that ms.
local function clock()
  local t = redis.call('TIME')
  local us = tonumber(t[2])
  local within = us % 1000
  return tonumber(t[1]) * 1000 + (us - within) / 1000, within * 1000
end

local function store(key, update)
  local ok
  if update.gone then
    ok = redis.pcall('DEL', key)
  else
    ok = redis.pcall('SET', key, update.value, 'PXAT', update.at)
  end
  if type(ok) == 'table' and ok.err then refuse(E.write_failed) end
end

local function one_key(command, keys, args, first)
  if #keys ~= 1 then
    refuse('ERR ' .. command .. ' takes exactly one key')
  end
  if #args < first + 1 then refuse(wrong_arity(command)) end
  local limit, o = parse_one(args, first)
  local now, now_ns = clock()
  return keys[1], limit, o, load(keys[1], now), now, now_ns
end

local function check(keys, args, first)
  local key, limit, o, st, now, now_ns = one_key('ratelimit_check', keys, args, first)
  local reply, update = decide(st, limit, o, o.cost, now, now_ns)
  if update then store(key, update) end
  return reply
end

local function peek_command(keys, args, first)
  local _, limit, o, st, now, now_ns = one_key('ratelimit_peek', keys, args, first)
  return peek(st, limit, o, o.cost, now, now_ns)
end

local function charge_command(keys, args, first)
  if #keys ~= 1 then refuse('ERR ratelimit_charge takes exactly one key') end
  if #args < first + 2 then refuse(wrong_arity('ratelimit_charge')) end
  local limit, o, amount = parse_charge(args, first)
  local now, now_ns = clock()
  local key = keys[1]
  local reply, update = charge(load(key, now), limit, o, amount, now, now_ns)
  if update then store(key, update) end
  return reply
end

-- All or nothing: the request counts against every limit only if each allows it.
local function mcheck(keys, args, first)
  if #keys >= 1 and #args < first + 1 then refuse(wrong_arity('ratelimit_mcheck')) end
  local limits, o, costs = parse_many(keys, args, first)
  local now, now_ns = clock()
  local states = {}
  for i = 1, #keys do states[i] = load(keys[i], now) or false end
  for i = 1, #keys do
    local st = states[i]
    if st and st.algorithm ~= o.algorithm then refuse(other_algorithm(st.algorithm)) end
  end
  local replies, updates, allowed = {}, {}, true
  for i = 1, #keys do
    local cost = costs and costs[i] or o.cost
    replies[i], updates[i] = decide(states[i] or nil, limits[i], o, cost, now, now_ns)
    if replies[i][1] == 0 then allowed = false end
  end
  if allowed then
    for i = 1, #keys do
      if updates[i] then store(keys[i], updates[i]) end
    end
    return { 1, unpack(replies) }
  end
  local answer = { 0 }
  for i = 1, #keys do
    local cost = costs and costs[i] or o.cost
    answer[i + 1] = peek(states[i] or nil, limits[i], o, cost, now, now_ns)
  end
  return answer
end

local function version()
  return VERSION
end

-- Runs a command body; a refusal becomes its error reply, anything else is a bug and
-- keeps its message.
local function run(body, keys, args, first)
  if floor == nil then bind() end
  local ok, result = pcall(body, keys, args, first)
  if ok then return result end
  if type(result) == 'table' and result.ratelimit then
    return redis.error_reply(result.ratelimit)
  end
  error(result, 0)
end

if redis.register_function then
  redis.register_function('ratelimit_check', function(keys, args)
    return run(check, keys, args, 1)
  end)
  redis.register_function{
    function_name = 'ratelimit_peek',
    callback = function(keys, args) return run(peek_command, keys, args, 1) end,
    flags = { 'no-writes' },
  }
  redis.register_function('ratelimit_mcheck', function(keys, args)
    return run(mcheck, keys, args, 1)
  end)
  redis.register_function('ratelimit_charge', function(keys, args)
    return run(charge_command, keys, args, 1)
  end)
  redis.register_function{
    function_name = 'ratelimit_version',
    callback = version,
    flags = { 'no-writes', 'allow-stale' },
  }
  return
end

-- EVAL / EVALSHA: the command's name comes first among the arguments.
bind()
local COMMANDS = { check = check, peek = peek_command, mcheck = mcheck, charge = charge_command }
local name = ARGV[1]
if name == 'version' then return VERSION end
local body = name and COMMANDS[string.lower(name)]
if body == nil then
  return redis.error_reply('ERR the first argument must be check, peek, mcheck, charge or version')
end
return run(body, KEYS, ARGV, 2)
