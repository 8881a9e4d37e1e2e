-- tests/fuzz/fuzz_lua_garbage.lua - a decoder for the fuzz_lua target that
-- turns its payload into arbitrary return values (nested tables, wrong
-- types, NaN, huge lists, errors, metatables, ctx.thing overrides), so that
-- the C side's validation of a decoder's result is fuzzed too.
local u8 = bytes.u8

local gen
local function byte(p, i)
  if i > #p then return 0, i end
  return u8(p, i), i + 1
end

function gen(p, i, depth, ctx)
  local k
  k, i = byte(p, i)
  k = k % 16
  if depth > 4 then k = k % 3 end
  if k == 0 then return nil, i end
  if k == 1 then local v; v, i = byte(p, i); return v - 128, i end
  if k == 2 then
    if i + 3 > #p then return 0.5, i end
    return bytes.float32le(p, i), i + 4
  end
  if k == 3 then
    local n; n, i = byte(p, i)
    return p:sub(i, i + n - 1), i + n
  end
  if k == 4 then
    local n, t = 0, {}
    n, i = byte(p, i)
    for j = 1, n % 8 do t[j], i = gen(p, i, depth + 1, ctx) end
    return t, i
  end
  if k == 5 or k == 6 or k == 7 then
    local r = {}
    r.property, i = gen(p, i, depth + 1, ctx)
    if k ~= 7 then r.unit, i = gen(p, i, depth + 1, ctx) end
    r.value, i = gen(p, i, depth + 1, ctx)
    if k == 6 then r.time, i = gen(p, i, depth + 1, ctx); r.thing, i = gen(p, i, depth + 1, ctx) end
    return r, i
  end
  if k == 8 then return true, i end
  if k == 9 then return 0 / 0, i end
  if k == 10 then return math.huge, i end
  if k == 11 then local m; m, i = gen(p, i, depth + 1, ctx); error(m) end
  if k == 12 then
    return setmetatable({}, { __index = function() error("index") end,
                              __len = function() return 1e9 end }), i
  end
  if k == 13 then ctx.thing, i = gen(p, i, depth + 1, ctx); return "t", i end
  if k == 14 then
    local n; n, i = byte(p, i)
    local t = {}
    for j = 1, n * 8 do t[j] = { property = "p" .. (j % 7), value = j } end
    return t, i
  end
  return string.rep("x", 200), i
end

return {
  decode = function(p, port, ctx)
    local a, b, i
    a, i = gen(p, 1, 0, ctx)
    b, i = gen(p, i, 0, ctx)
    return a, b
  end,
}
