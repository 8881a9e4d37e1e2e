-- examples/lua-module/dew_point.module.lua - an integrator's Lua module: the dew
-- point from air temperature and relative humidity.
--
-- The dew point is the temperature at which the air's water vapour starts
-- to condense.  A room whose walls or window frames are colder than it gets
-- damp, so it is the number to watch in school rooms after a renovation or
-- where mould is suspected.
--
-- Magnus formula over water:
--   gamma = ln(RH / 100) + a * T / (b + T)
--   Td    = b * gamma / (a - gamma)
-- with a = 17.62 and b = 243.12 degC, valid for -45 .. 60 degC.  These are
-- the constants of D. Sonntag, "Important new values of the physical
-- constants of 1986, vapour pressure formulations based on the ITS-90, and
-- psychrometer formulae", Zeitschrift fuer Meteorologie 40 (1990) 340-344,
-- which the WMO Guide to Instruments and Methods of Observation (WMO-No. 8,
-- annex 4.B) uses for the saturation vapour pressure over water,
-- e_w(T) = 6.112 hPa * exp(a * T / (b + T)).
--
-- Use it in a recipe:
--   kk.load_module "examples/lua-module/dew_point.module.lua"
--   kk.pipe(sensors, kk.calc.dew_point { max_skew = "5m" }, store)

local A, B = 17.62, 243.12

-- Dew point in degC, or nil outside the formula's range.
local function dew_point(t, rh)
  if t < -45 or t > 60 or rh <= 0 or rh > 100 then return nil end
  local gamma = math.log(rh / 100) + A * t / (B + t)
  return B * gamma / (A - gamma)
end

return {
  name = "dew_point",
  kind = "transform",
  ns = "calc",
  summary = "Dew point from temperature and relative humidity (Magnus formula)",
  description = [[
Pairs each thing's air temperature (unit Cel) with its relative humidity
(unit %) and emits the dew point (unit Cel) with the later of the two
times.  A reading pairs with the latest unpaired reading of the other kind
from the same thing, when their times are at most `max_skew` apart; each
pair gives one dew point.  Magnus formula with Sonntag's (1990) constants
a = 17.62, b = 243.12 degC, valid from -45 to 60 degC.]],

  options = {
    temperature = { type = "string", default = "air_temperature",
                    description = "Observed property of the air temperature readings (unit Cel)." },
    humidity = { type = "string", default = "relative_humidity",
                 description = "Observed property of the relative humidity readings (unit %)." },
    output = { type = "string", default = "dew_point",
               description = "Observed property of the dew point readings this module emits." },
    max_skew = { type = "duration", default = "10m",
                 description = "Longest time between a temperature and a humidity that still pair." },
    pass = { type = "bool", default = true,
             description = "Send the input readings on as well (false: only dew points)." },
  },

  -- Runs once per stage; what it returns is the `state` process gets.
  -- Durations arrive as integer milliseconds.
  create = function(o)
    return { t = o.temperature, h = o.humidity, out = o.output,
             skew = o.max_skew, pass = o.pass,
             pending = {} } -- thing -> { t =, t_time =, h =, h_time = }
  end,

  process = function(s, batch, emit)
    for r in batch:readings() do
      if s.pass then emit(r) end
      local prop = r.property
      local is_t = prop == s.t and r.unit == "Cel"
      local is_h = prop == s.h and r.unit == "%"
      if is_t or is_h then
        local thing = r.thing
        local p = s.pending[thing]
        if not p then
          p = {}
          s.pending[thing] = p
        end
        -- r is a view that the loop reuses: copy its fields.
        if is_t then p.t, p.t_time = r.value, r.time
        else p.h, p.h_time = r.value, r.time end
        if p.t and p.h and math.abs(p.t_time - p.h_time) <= s.skew then
          local td = dew_point(p.t, p.h)
          if td then
            emit { thing = thing, property = s.out, unit = "Cel",
                   time = math.max(p.t_time, p.h_time), value = td }
          end
          p.t, p.h = nil, nil
        end
      end
    end
  end,
}
