#!lua name=invsync

-- Redis Functions of invsync (Redis 7.0 or newer). docs/redis.md describes the
-- key layout these functions read and write.
--
-- On Redis Cluster every call must touch keys of one hash slot only, and the
-- callers group keys by slot, so the library works there as on a single Redis.

-- Lua numbers are doubles, so versions and quantities are exact up to 2^53.

-- Lua's unpack() returns at most about 8000 values, so long argument lists go
-- to Redis in chunks of this many values.
local CHUNK = 1000 -- even, so HSET chunks keep field/value pairs together

local function to_integer(value, name)
  local number = tonumber(value)
  if number == nil or number ~= math.floor(number) then
    error('invalid ' .. name .. ': ' .. tostring(value) .. ' is not an integer')
  end
  return number
end

-- Run HSET key with args[first..last] (field/value pairs) in chunks.
local function hset_range(key, args, first, last)
  for start = first, last, CHUNK do
    local stop = math.min(start + CHUNK - 1, last)
    redis.call('HSET', key, unpack(args, start, stop))
  end
end

-- Return HMGET key fields[1..n], fetched in chunks.
local function hmget_all(key, fields)
  local values = {}
  for start = 1, #fields, CHUNK do
    local stop = math.min(start + CHUNK - 1, #fields)
    local chunk = redis.call('HMGET', key, unpack(fields, start, stop))
    for offset = 1, stop - start + 1 do
      values[start + offset - 1] = chunk[offset]
    end
  end
  return values
end

-- Write ATP records whose version is newer than the stored one.
--
-- KEYS: ATP hash keys, of one slot when the server is a Redis Cluster.
-- ARGV, once per key in KEYS order: generation, counter, field count n, then n
-- field/value pairs (every field of the record except gen and ctr).
-- A record is newer when its generation is higher, or the generation is equal
-- and its counter is higher. A newer record replaces the whole hash, so the
-- fields of warehouses a record no longer lists do not linger.
-- Returns {applied, rejected_older, rejected_equal}.
local function put_atp(keys, args)
  local applied, rejected_older, rejected_equal = 0, 0, 0
  local position = 1

  for _, key in ipairs(keys) do
    local generation = to_integer(args[position], 'generation')
    local counter = to_integer(args[position + 1], 'counter')
    local field_count = to_integer(args[position + 2], 'field count')
    local first = position + 3
    local last = first + 2 * field_count - 1
    if last > #args then
      error('invalid arguments for ' .. key .. ': expected ' .. field_count
        .. ' field/value pairs, got fewer')
    end
    position = last + 1

    local stored = redis.call('HMGET', key, 'gen', 'ctr')
    local verdict = 1
    if stored[1] then
      local stored_generation = to_integer(stored[1], 'stored gen')
      local stored_counter = to_integer(stored[2] or '0', 'stored ctr')
      if generation < stored_generation then
        verdict = -1
      elseif generation == stored_generation then
        if counter < stored_counter then
          verdict = -1
        elseif counter == stored_counter then
          verdict = 0
        end
      end
    end

    if verdict == 1 then
      redis.call('DEL', key)
      redis.call('HSET', key, 'gen', generation, 'ctr', counter)
      if field_count > 0 then
        hset_range(key, args, first, last)
      end
      applied = applied + 1
    elseif verdict == 0 then
      rejected_equal = rejected_equal + 1
    else
      rejected_older = rejected_older + 1
    end
  end

  if position <= #args then
    error('invalid arguments: ' .. (#args - position + 1)
      .. ' arguments left after the last key')
  end
  return {applied, rejected_older, rejected_equal}
end

-- Set warehouse active flags in one bucket's warehouses hash.
--
-- KEYS[1]: a warehouses hash.
-- ARGV: triples of warehouse code, flag ('1' active, '0' inactive) and event
-- time in epoch milliseconds. A flag is written unless the stored event time of
-- that warehouse is later, so an older setting never overrides a newer one. At
-- an equal event time the later call wins.
-- Returns the number of flags written.
local function set_warehouses(keys, args)
  if #args % 3 ~= 0 then
    error('invalid arguments: expected code, flag, event time triples, got '
      .. #args .. ' arguments')
  end

  local written = 0
  for position = 1, #args, 3 do
    local code = args[position]
    local flag = args[position + 1]
    local event_ms = to_integer(args[position + 2], 'event time')
    if flag ~= '1' and flag ~= '0' then
      error('invalid flag for warehouse ' .. code .. ': ' .. flag
        .. ' (expected 1 or 0)')
    end

    local stored_ms = redis.call('HGET', keys[1], code .. ':t')
    if not stored_ms or to_integer(stored_ms, 'stored event time') <= event_ms then
      redis.call('HSET', keys[1], code, flag, code .. ':t', event_ms)
      written = written + 1
    end
  end
  return written
end

-- Set warehouse stale flags in one bucket's warehouses hash.
--
-- KEYS[1]: a warehouses hash.
-- ARGV: triples of warehouse code, flag ('1' stale, '0' fresh) and the time
-- the freshness step detected the change, in epoch milliseconds. The flag and
-- its time go to the fields '<code>:stale' and '<code>:stale_t'. A flag is
-- written unless the stored time of that warehouse is later, so a replayed
-- older change never overrides a newer one. At an equal time the later call
-- wins.
-- Returns one element per triple, in argument order: 1 if written, else 0.
local function set_stale(keys, args)
  if #args % 3 ~= 0 then
    error('invalid arguments: expected code, flag, detection time triples, got '
      .. #args .. ' arguments')
  end

  local written = {}
  for position = 1, #args, 3 do
    local code = args[position]
    local flag = args[position + 1]
    local detected_ms = to_integer(args[position + 2], 'detection time')
    if flag ~= '1' and flag ~= '0' then
      error('invalid stale flag for warehouse ' .. code .. ': ' .. flag
        .. ' (expected 1 or 0)')
    end

    local time_field = code .. ':stale_t'
    local stored_ms = redis.call('HGET', keys[1], time_field)
    if not stored_ms
        or to_integer(stored_ms, 'stored detection time') <= detected_ms then
      redis.call('HSET', keys[1], code .. ':stale', flag, time_field, detected_ms)
      table.insert(written, 1)
    else
      table.insert(written, 0)
    end
  end
  return written
end

-- Compute the network ATP of one SKU from its ATP hash and the warehouses hash
-- of its bucket. A warehouse whose '<code>:stale' field is '1' is stale, and
-- with policy 'exclude' it counts as inactive. A warehouse without a flag
-- counts as active.
-- Returns false when the SKU has no record, else {network, unclipped,
-- unallocated demand, generation, counter, {code, available, active, ...}},
-- where network = max(0, unclipped), unclipped = the sum of available over
-- active warehouses minus unallocated demand, and active is 1 or 0. A seventh
-- element lists the codes of the stale warehouses. Warehouses
-- are sorted by code.
local function network_of(atp_key, warehouses_key, policy)
  local stored = redis.call('HMGET', atp_key, 'gen', 'ctr', 'unalloc', 'avail')
  if not stored[1] then
    return false
  end

  local available = cjson.decode(stored[4] or '{}')
  local codes = {}
  for code in pairs(available) do
    table.insert(codes, code)
  end
  table.sort(codes)

  local flags = hmget_all(warehouses_key, codes)
  local stale_fields = {}
  for index, code in ipairs(codes) do
    stale_fields[index] = code .. ':stale'
  end
  local stale = hmget_all(warehouses_key, stale_fields)

  local total = 0
  local per_warehouse = {}
  local stale_codes = {}
  for index, code in ipairs(codes) do
    local quantity = to_integer(available[code], 'available of ' .. code)
    local active = 1
    local is_stale = stale[index] == '1'
    if is_stale then
      table.insert(stale_codes, code)
    end
    if flags[index] == '0' or (is_stale and policy == 'exclude') then
      active = 0
    else
      total = total + quantity
    end
    table.insert(per_warehouse, code)
    table.insert(per_warehouse, quantity)
    table.insert(per_warehouse, active)
  end

  local unallocated = to_integer(stored[3] or '0', 'unalloc')
  local unclipped = total - unallocated
  local network = math.max(0, unclipped)
  return {
    network,
    unclipped,
    unallocated,
    to_integer(stored[1], 'gen'),
    to_integer(stored[2] or '0', 'ctr'),
    per_warehouse,
    stale_codes,
  }
end

local function stale_policy(args)
  local policy = args[1] or 'include'
  if policy ~= 'include' and policy ~= 'exclude' then
    error('invalid stale policy: ' .. policy .. ' (expected include or exclude)')
  end
  return policy
end

-- Compute the network ATP of one SKU.
--
-- KEYS[1]: the SKU's ATP hash. KEYS[2]: the warehouses hash of its bucket.
-- ARGV[1], optional: stale policy, 'include' (the default) or 'exclude'.
-- Returns nil when the SKU has no record, else the table network_of returns.
local function network_atp(keys, args)
  return network_of(keys[1], keys[2], stale_policy(args))
end

-- Compute the network ATP of many SKUs.
--
-- KEYS: pairs of a SKU's ATP hash and the warehouses hash of its bucket.
-- ARGV[1], optional: stale policy, as for invsync_network_atp.
-- Returns one element per pair, in order: nil when the SKU has no record, else
-- the reply of invsync_network_atp.
local function network_atp_many(keys, args)
  if #keys % 2 ~= 0 then
    error('invalid keys: expected pairs of ATP and warehouses keys, got '
      .. #keys .. ' keys')
  end
  local policy = stale_policy(args)
  local replies = {}
  for index = 1, #keys, 2 do
    replies[(index + 1) / 2] = network_of(keys[index], keys[index + 1], policy)
  end
  return replies
end

redis.register_function('invsync_put_atp', put_atp)
redis.register_function('invsync_set_warehouses', set_warehouses)
redis.register_function('invsync_set_stale', set_stale)
redis.register_function{
  function_name = 'invsync_network_atp',
  callback = network_atp,
  flags = {'no-writes'},
}
redis.register_function{
  function_name = 'invsync_network_atp_many',
  callback = network_atp_many,
  flags = {'no-writes'},
}
