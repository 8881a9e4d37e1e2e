-- recipes/decoders/milesight_am300.lua - Milesight AM300 series (AM307,
-- AM308, AM319) indoor ambience sensors, for decode.lua.
--
--   kk.decode.lua { path = "recipes/decoders/milesight_am300.lua",
--                   envelope = "ttn-v3", config = { model = "am319" } }
--   klimakit decode recipes/decoders/milesight_am300.lua --port 85 --hex 0367EE00...
--
-- Format (written from the vendor's public description, not from its code):
--   Milesight-IoT/SensorDecoders, AM_Series/AM300_Series/README.md,
--   "Payload Definition" table and its example frame
--   (https://github.com/Milesight-IoT/SensorDecoders/tree/main/AM_Series/AM300_Series),
--   and the AM300 series user guide, "Device Payload" (channel/type tables,
--   firmware v2 additions: TVOC in ug/m3, history record 0x21).
-- The payload is a sequence of records: channel id (1 byte), channel type
-- (1 byte), then a value whose length and scale the pair fixes.
-- Multi-byte values are little-endian.
--   01 75 battery       u8          %        03 67 temperature  s16 / 10  Cel
--   04 68 humidity      u8 / 2      %        05 00 PIR          u8 0 idle / 1 trigger
--   06 CB light level   u8 (0..5)            07 7D CO2          u16       ppm
--   08 7D TVOC (IAQ)    u16 level            08 E6 TVOC         u16       ug/m3
--   09 73 pressure      u16 / 10    hPa      0A 7D HCHO         u16 / 100 mg/m3
--   0B 7D PM2.5         u16         ug/m3    0C 7D PM10         u16       ug/m3
--   0D 7D O3            u16 / 100   ppm      0E 01 buzzer       u8 (skipped)
--   FF xx device information (skipped: 01 1, 09 2, 0A 2, 0B 1, 0F 1, 16 8, FF 2 bytes)
--   20 CE / 21 CE history record: time u32 (s), temperature s16 / 10,
--         humidity u16 / 2, PIR u8, light u8, CO2 u16, TVOC u16 (20: IAQ
--         level, 21: ug/m3), pressure u16 / 10 (16 bytes); the AM308 adds
--         PM2.5 and PM10 (20 bytes), the AM319 also HCHO or O3 (22 bytes):
--         set config.model to "am308" or "am319" for those.
-- The README gives the 08 7D TVOC as a plain level (example: 37);
-- firmware v2 decoders divide it by 100: config.tvoc_iaq_scale = 0.01.
--
-- fPorts: the AM300 series sends on the application port of its LoRaWAN
-- settings, 85 by default (AM300 series user guide, "LoRaWAN Settings";
-- the examples of The Things Network's device repository use it too,
-- vendor/milesight-iot/am307-codec.yaml in TheThingsNetwork/lorawan-devices);
-- config.ports = { n } follows a changed setting.  Other ports are
-- rejected (reason port).
-- A frame is decoded completely or rejected: an unknown channel/type pair
-- is rejected as unknown_record (its length is unknown, so nothing after
-- it can be read), a record cut short as truncated.  A frame of device
-- information records only (FF xx: the frame the device sends after it
-- joins) and buzzer states holds nothing to store (kk.decode.none).

local u8, u16, s16, u32 = bytes.u8, bytes.u16le, bytes.s16le, bytes.u32le

local HISTORY_LEN = { am307 = 16, am308 = 20, am319 = 22 }
local INFO_LEN = { [0x01] = 1, [0x09] = 2, [0x0A] = 2, [0x0B] = 1,
                   [0x0F] = 1, [0x16] = 8, [0xFF] = 2 }

local function put(out, property, unit, value, time)
  out[#out + 1] = { property = property, unit = unit, value = value, time = time }
end

local function history(p, i, out, ctx, ugm3)
  local cfg = ctx.config or {}
  local model = cfg.model or "am307"
  local n = HISTORY_LEN[model]
  if not n then error("config.model must be am307, am308 or am319") end
  local t = u32(p, i) * 1000
  put(out, "air_temperature", "Cel", s16(p, i + 4) / 10, t)
  put(out, "relative_humidity", "%", u16(p, i + 6) / 2, t)
  put(out, "pir", "1", u8(p, i + 8), t)
  put(out, "light_level", "1", u8(p, i + 9), t)
  put(out, "co2", "ppm", u16(p, i + 10), t)
  if ugm3 then
    put(out, "tvoc", "ug/m3", u16(p, i + 12), t)
  else
    put(out, "tvoc_iaq", "1", u16(p, i + 12) * (cfg.tvoc_iaq_scale or 1), t)
  end
  put(out, "air_pressure", "hPa", u16(p, i + 14) / 10, t)
  if n >= 20 then
    put(out, "pm2_5", "ug/m3", u16(p, i + 16), t)
    put(out, "pm10", "ug/m3", u16(p, i + 18), t)
  end
  if n >= 22 then
    if cfg.o3 then put(out, "o3", "ppm", u16(p, i + 20) / 100, t)
    else put(out, "hcho", "mg/m3", u16(p, i + 20) / 100, t) end
  end
  return n
end

-- [channel << 8 | type] -> function(payload, i, out, ctx) returning the length
local R = {
  [0x0175] = function(p, i, o) put(o, "battery", "%", u8(p, i)); return 1 end,
  [0x0367] = function(p, i, o) put(o, "air_temperature", "Cel", s16(p, i) / 10); return 2 end,
  [0x0468] = function(p, i, o) put(o, "relative_humidity", "%", u8(p, i) / 2); return 1 end,
  [0x0500] = function(p, i, o) put(o, "pir", "1", u8(p, i)); return 1 end,
  [0x06CB] = function(p, i, o) put(o, "light_level", "1", u8(p, i)); return 1 end,
  [0x077D] = function(p, i, o) put(o, "co2", "ppm", u16(p, i)); return 2 end,
  [0x087D] = function(p, i, o, ctx)
    local scale = (ctx.config or {}).tvoc_iaq_scale or 1
    put(o, "tvoc_iaq", "1", u16(p, i) * scale); return 2
  end,
  [0x08E6] = function(p, i, o) put(o, "tvoc", "ug/m3", u16(p, i)); return 2 end,
  [0x0973] = function(p, i, o) put(o, "air_pressure", "hPa", u16(p, i) / 10); return 2 end,
  [0x0A7D] = function(p, i, o) put(o, "hcho", "mg/m3", u16(p, i) / 100); return 2 end,
  [0x0B7D] = function(p, i, o) put(o, "pm2_5", "ug/m3", u16(p, i)); return 2 end,
  [0x0C7D] = function(p, i, o) put(o, "pm10", "ug/m3", u16(p, i)); return 2 end,
  [0x0D7D] = function(p, i, o) put(o, "o3", "ppm", u16(p, i) / 100); return 2 end,
  [0x0E01] = function() return 1 end,
  [0x20CE] = function(p, i, o, ctx) return history(p, i, o, ctx, false) end,
  [0x21CE] = function(p, i, o, ctx) return history(p, i, o, ctx, true) end,
}

local function decode(payload, port, ctx)
  local out, i, n = {}, 1, #payload
  if n == 0 then return nil, "empty frame", "truncated" end
  while i + 1 <= n do
    local ch, ty = u8(payload, i), u8(payload, i + 1)
    local f = R[ch << 8 | ty]
    local len
    if f then
      len = f(payload, i + 2, out, ctx)
    elseif ch == 0xFF and INFO_LEN[ty] then
      len = INFO_LEN[ty]
    else
      return nil, string.format("unknown Milesight channel %02x %02x at byte %d", ch, ty, i),
             "unknown_record"
    end
    if i + 1 + len > n then
      return nil, string.format("record %02x %02x at byte %d needs %d bytes, %d left",
                                ch, ty, i, len, n - i - 1), "truncated"
    end
    i = i + 2 + len
  end
  if i == n then
    return nil, string.format("a single byte left at byte %d", i), "truncated"
  end
  if #out == 0 then return kk.decode.none, "device information" end
  return out
end

return {
  decode = decode,
  ports = function(config) return config.ports or { 85 } end,
}
