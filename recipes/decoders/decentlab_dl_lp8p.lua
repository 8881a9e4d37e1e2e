-- recipes/decoders/decentlab_dl_lp8p.lua - Decentlab DL-LP8P (CO2,
-- temperature, humidity and barometric pressure sensor), for decode.lua.
--
--   kk.decode.lua { path = "recipes/decoders/decentlab_dl_lp8p.lua", envelope = "ttn-v3" }
--   klimakit decode recipes/decoders/decentlab_dl_lp8p.lua --port 1 --hex 020578000f67bd...
--
-- Format (written from the vendor's public description, not from its code):
--   Decentlab, DL-LP8P datasheet and product page
--   (https://www.decentlab.com/products/co2-temperature-humidity-and-barometric-pressure-sensor-for-lorawan),
--   and the sensor definitions and example frames published in
--   decentlab/decentlab-decoders, DL-LP8P/.
-- A frame is big-endian: protocol version (u8, must be 2), device id
-- (u16), a flags word (u16), then for every flag bit that is set, in bit
-- order, that sensor's block of u16 words:
--   bit 0, 2 words  air temperature 175.72 * x0 / 65536 - 46.85 Cel
--                   air humidity    125 * x1 / 65536 - 6        %
--   bit 1, 2 words  barometer temperature (x0 - 5000) / 100     Cel
--                   barometric pressure x1 * 2 Pa (emitted in hPa)
--   bit 2, 8 words  CO2 x0 - 32768 ppm, CO2 low-pass x1 - 32768 ppm,
--                   CO2 sensor temperature (x2 - 32768) / 100 Cel,
--                   capacitor voltages x3 / 1000, x4 / 1000 V,
--                   CO2 sensor status x5, raw IR x6, raw IR low-pass x7
--   bit 3, 1 word   battery voltage x0 / 1000 V
-- A frame is decoded completely or rejected: another protocol version is
-- rejected as invalid, a frame shorter than its flags say as truncated,
-- bytes after the last flagged block as invalid.  A frame whose flags
-- select no sensor holds nothing to store (kk.decode.none).
--
-- fPorts: port 1, the port Decentlab's data frames use (as in the examples
-- of vendor/decentlab/dl-lp8p-codec.yaml in TheThingsNetwork/lorawan-devices); config.ports =
-- { n } for a device configured otherwise.  Other ports are rejected
-- (reason port).

local u8, u16 = bytes.u8, bytes.u16be

local function put(out, property, unit, value)
  out[#out + 1] = { property = property, unit = unit, value = value }
end

local SENSORS = {
  { words = 2, f = function(x, o)
      put(o, "air_temperature", "Cel", 175.72 * x[1] / 65536 - 46.85)
      put(o, "relative_humidity", "%", 125 * x[2] / 65536 - 6)
    end },
  { words = 2, f = function(x, o)
      put(o, "barometer_temperature", "Cel", (x[1] - 5000) / 100)
      put(o, "air_pressure", "hPa", x[2] * 2 / 100)
    end },
  { words = 8, f = function(x, o)
      put(o, "co2", "ppm", x[1] - 32768)
      put(o, "co2_lpf", "ppm", x[2] - 32768)
      put(o, "co2_sensor_temperature", "Cel", (x[3] - 32768) / 100)
      put(o, "capacitor_voltage_1", "V", x[4] / 1000)
      put(o, "capacitor_voltage_2", "V", x[5] / 1000)
      put(o, "co2_sensor_status", "1", x[6])
      put(o, "raw_ir", "1", x[7])
      put(o, "raw_ir_lpf", "1", x[8])
    end },
  { words = 1, f = function(x, o) put(o, "battery_voltage", "V", x[1] / 1000) end },
}

local function decode(payload, port, ctx)
  if #payload == 0 then return nil, "empty frame", "truncated" end
  local version = u8(payload, 1)
  if version ~= 2 then
    return nil, "Decentlab protocol version " .. version .. ", expected 2", "invalid"
  end
  local flags = u16(payload, 4)
  local out, pos = {}, 6
  for bit, s in ipairs(SENSORS) do
    if flags & (1 << (bit - 1)) ~= 0 then
      local x = {}
      for k = 1, s.words do
        x[k] = u16(payload, pos)
        pos = pos + 2
      end
      s.f(x, out)
    end
  end
  if pos <= #payload then
    return nil, string.format("%d bytes after the flagged blocks (flags 0x%04x)",
                              #payload - pos + 1, flags), "invalid"
  end
  if #out == 0 then return kk.decode.none, "no sensor flagged" end
  return out
end

return {
  decode = decode,
  ports = function(config) return config.ports or { 1 } end,
}
