-- recipes/decoders/elsys.lua - Elsys ERS family (ERS, ERS CO2, ERS Lite,
-- ERS Sound, ERS Eye, ELT, EMS...) payload decoder for decode.lua.
--
--   kk.decode.lua { path = "recipes/decoders/elsys.lua", envelope = "ttn-v3" }
--   klimakit decode recipes/decoders/elsys.lua --port 5 --hex 0100E202290400270506060308
--
-- Format (written from the vendor's public description, not from its code):
--   Elsys, "Sensor payload" (https://elsys.se/public/documents/Sensor_payload.pdf,
--   https://www.elsys.se/en/elsys-payload/), as summarised in the type list of
--   TheThingsNetwork/lorawan-devices vendor/elsys (ers-co2-codec.yaml, elsys.js).
-- The payload is a sequence of records: one type byte, then a value whose
-- length the type fixes; multi-byte values are big-endian.
--   0x01 temperature   s16 / 10   Cel      0x02 humidity      u8        %
--   0x03 acceleration  3 x s8 (63 = 1 g)   0x04 light         u16       lx
--   0x05 motion (PIR)  u8 count           0x06 CO2           u16       ppm
--   0x07 VDD           u16 mV (as V)       0x08 analog 1      u16       mV
--   0x09 GPS           2 x u24             0x0A pulse 1       u16 relative
--   0x0B pulse 1 abs   u32                 0x0C ext. temp.    s16 / 10  Cel
--   0x0D digital in    u8                  0x0E distance      u16       mm
--   0x0F acc. motion   u8 count            0x10 IR temp.      2 x s16 / 10 Cel
--   0x11 occupancy     u8                  0x12 water leak    u8
--   0x13 Grid-EYE      1 + 64 bytes        0x14 pressure      u32 / 1000 hPa
--   0x15 sound         peak u8, avg u8 dB  0x16 pulse 2       u16 relative
--   0x17 pulse 2 abs   u32                 0x18 analog 2      u16       mV
--   0x19 ext. temp. 2  s16 / 10   Cel      0x1A digital in 2  u8
--   0x1B analog uV     s32        uV       0x1C TVOC          u16       ppb
--   0x3D debug         4 bytes (skipped)
-- Property names follow klimakit's (co2, air_temperature, relative_humidity);
-- units are UCUM codes.
--
-- fPorts: the sensors send their data on LoRaWAN port 5 unless the setting
-- `Port` (1..254, Elsys "NFC settings specification",
-- https://www.elsys.se/en/elsys-nfc-settings-specification/) says
-- otherwise; config.ports = { n } follows such a setting.  Other ports
-- are rejected (reason port).
-- A frame is decoded completely or rejected: an unknown type is rejected
-- as unknown_record (the length of its value is unknown, so nothing after
-- it can be read, and keeping the records before it would store a partial
-- frame as if it were whole); a record cut short as truncated.  A frame
-- of debug records only (0x3D) holds nothing to store (kk.decode.none).

local u8, s8, u16, s16 = bytes.u8, bytes.s8, bytes.u16be, bytes.s16be
local u24, u32, s32 = bytes.u24be, bytes.u32be, bytes.s32be

-- type -> function(payload, i, out) returning the value length
local T = {}
local function put(out, property, unit, value)
  out[#out + 1] = { property = property, unit = unit, value = value }
end

T[0x01] = function(p, i, o) put(o, "air_temperature", "Cel", s16(p, i) / 10); return 2 end
T[0x02] = function(p, i, o) put(o, "relative_humidity", "%", u8(p, i)); return 1 end
T[0x03] = function(p, i, o)
  put(o, "acceleration_x", "[g]", s8(p, i) / 63)
  put(o, "acceleration_y", "[g]", s8(p, i + 1) / 63)
  put(o, "acceleration_z", "[g]", s8(p, i + 2) / 63)
  return 3
end
T[0x04] = function(p, i, o) put(o, "illuminance", "lx", u16(p, i)); return 2 end
T[0x05] = function(p, i, o) put(o, "motion", "{count}", u8(p, i)); return 1 end
T[0x06] = function(p, i, o) put(o, "co2", "ppm", u16(p, i)); return 2 end
T[0x07] = function(p, i, o) put(o, "battery_voltage", "V", u16(p, i) / 1000); return 2 end
T[0x08] = function(p, i, o) put(o, "analog1", "mV", u16(p, i)); return 2 end
T[0x09] = function(p, i, o)
  put(o, "gps_lat_raw", "1", u24(p, i))
  put(o, "gps_lon_raw", "1", u24(p, i + 3))
  return 6
end
T[0x0A] = function(p, i, o) put(o, "pulse1", "{count}", u16(p, i)); return 2 end
T[0x0B] = function(p, i, o) put(o, "pulse1_abs", "{count}", u32(p, i)); return 4 end
T[0x0C] = function(p, i, o) put(o, "external_temperature", "Cel", s16(p, i) / 10); return 2 end
T[0x0D] = function(p, i, o) put(o, "digital1", "1", u8(p, i)); return 1 end
T[0x0E] = function(p, i, o) put(o, "distance", "mm", u16(p, i)); return 2 end
T[0x0F] = function(p, i, o) put(o, "acc_motion", "{count}", u8(p, i)); return 1 end
T[0x10] = function(p, i, o)
  put(o, "ir_internal_temperature", "Cel", s16(p, i) / 10)
  put(o, "ir_external_temperature", "Cel", s16(p, i + 2) / 10)
  return 4
end
T[0x11] = function(p, i, o) put(o, "occupancy", "1", u8(p, i)); return 1 end
T[0x12] = function(p, i, o) put(o, "water_leak", "1", u8(p, i)); return 1 end
T[0x13] = function(p, i, o)
  -- Grid-EYE: a reference byte and 64 pixel offsets; only the mean is kept.
  local ref, sum = u8(p, i), 0
  for k = 1, 64 do sum = sum + u8(p, i + k) end
  put(o, "grideye_mean_temperature", "Cel", ref + sum / 640)
  return 65
end
T[0x14] = function(p, i, o) put(o, "air_pressure", "hPa", u32(p, i) / 1000); return 4 end
T[0x15] = function(p, i, o)
  put(o, "sound_peak", "dB", u8(p, i))
  put(o, "sound_avg", "dB", u8(p, i + 1))
  return 2
end
T[0x16] = function(p, i, o) put(o, "pulse2", "{count}", u16(p, i)); return 2 end
T[0x17] = function(p, i, o) put(o, "pulse2_abs", "{count}", u32(p, i)); return 4 end
T[0x18] = function(p, i, o) put(o, "analog2", "mV", u16(p, i)); return 2 end
T[0x19] = function(p, i, o) put(o, "external_temperature2", "Cel", s16(p, i) / 10); return 2 end
T[0x1A] = function(p, i, o) put(o, "digital2", "1", u8(p, i)); return 1 end
T[0x1B] = function(p, i, o) put(o, "analog_uv", "uV", s32(p, i)); return 4 end
T[0x1C] = function(p, i, o) put(o, "tvoc", "ppb", u16(p, i)); return 2 end
T[0x3D] = function() return 4 end -- debug information, not a measurement

local function decode(payload, port, ctx)
  local out, i, n = {}, 1, #payload
  if n == 0 then return nil, "empty frame", "truncated" end
  while i <= n do
    local t = u8(payload, i)
    local f = T[t]
    if not f then
      return nil, string.format("unknown Elsys type 0x%02x at byte %d", t, i), "unknown_record"
    end
    local len = f(payload, i + 1, out)
    if i + len > n then
      return nil, string.format("type 0x%02x at byte %d needs %d bytes, %d left", t, i, len, n - i),
             "truncated"
    end
    i = i + 1 + len
  end
  if #out == 0 then return kk.decode.none, "debug record only" end
  return out
end

return {
  decode = decode,
  ports = function(config) return config.ports or { 5 } end,
}
