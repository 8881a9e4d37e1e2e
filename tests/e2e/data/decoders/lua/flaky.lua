-- A decoder that misbehaves on purpose (tests/e2e/test_decoders_lua.sh):
-- the first payload byte chooses how; any other first byte decodes
-- byte 2 as the value of property "v".
local function decode(p, port, ctx)
  local k = bytes.u8(p, 1)
  if k == 0xE1 then error("boom") end
  if k == 0xE2 then while true do end end
  if k == 0xE3 then return 42 end
  if k == 0xE4 then return { { property = 1, value = 2 } } end
  if k == 0xE5 then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 1 << 20) .. i end
  end
  if k == 0xE6 then return nil, "frame type not supported" end
  if k == 0xE7 then return { { property = "v", value = 0 / 0 } } end
  if k == 0xE8 then return bytes.u32be(p, 2) end
  if k == 0xE9 then ctx.thing = "elsewhere" end
  return { { property = "v", unit = "1", value = bytes.u8(p, 2) } }
end
return { decode = decode }
