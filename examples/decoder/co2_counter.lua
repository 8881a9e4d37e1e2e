-- examples/decoder/co2_counter.lua - a small device decoder for decode.lua.
--
-- The (made-up) device sends frames of four bytes:
--   byte 1      frame type, 0x03 = measurement
--   bytes 2..3  CO2 in ppm, unsigned 16 bit big-endian
--   byte 4      people counted in the room, unsigned 8 bit
-- Example: 03 01 F4 2A -> co2 500 ppm, people 42.

local function decode(payload, port, ctx)
  -- bytes.* raise an error when a read runs past the end: a short frame
  -- is rejected (reason "decoder") without any check here.
  local kind = bytes.u8(payload, 1)
  if kind ~= 0x03 then
    -- expected failure: nil and a message (also reason "decoder")
    return nil, string.format("frame type 0x%02x is not a measurement", kind)
  end
  return {
    { property = "co2", unit = "ppm", value = bytes.u16be(payload, 2) },
    { property = "people", unit = "{count}", value = bytes.u8(payload, 4) },
  }
end

return { decode = decode }
