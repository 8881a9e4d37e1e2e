-- examples/decoder/co2_counter.lua - a small device decoder for decode.lua.
--
-- The (made-up) device sends on fPort 2, frames that start with a type
-- byte:
--   0x03 measurement, 4 bytes:  bytes 2..3  CO2 in ppm, u16 big-endian
--                               byte 4      people counted in the room, u8
--   0x01 heartbeat, 2 bytes:    byte 2      battery in %, nothing to store
-- Example: 03 01 F4 2A -> co2 500 ppm, people 42.
--
--   klimakit decode examples/decoder/co2_counter.lua --port 2 --hex 0301F42A

local LENGTH = { [0x01] = 2, [0x03] = 4 }

local function decode(payload, port, ctx)
  -- bytes.* raise an error when a read runs past the end: a short frame
  -- is rejected (reason "truncated") without any check here.
  local kind = bytes.u8(payload, 1)
  local want = LENGTH[kind]
  if not want then
    -- expected failure: nil, a message and a reason
    return nil, string.format("frame type 0x%02x is unknown", kind), "unknown_record"
  end
  if #payload ~= want then
    return nil, string.format("frame type 0x%02x has %d bytes, not %d", kind, #payload, want),
           #payload < want and "truncated" or "invalid"
  end
  if kind == 0x01 then
    -- a status frame: decoded, but there is nothing to store
    return kk.decode.none, string.format("heartbeat, battery %d %%", bytes.u8(payload, 2))
  end
  return {
    { property = "co2", unit = "ppm", value = bytes.u16be(payload, 2) },
    { property = "people", unit = "{count}", value = bytes.u8(payload, 4) },
  }
end

-- The device uses fPort 2 only; other ports are rejected (reason "port").
return { decode = decode, ports = { 2 } }
