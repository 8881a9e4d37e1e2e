-- modules/transform/unit_convert.lua - converts readings from one unit to another.
--
-- A built-in klimakit transform written in Lua (kk.transform.unit_convert).
-- Readings in unit `from` leave with value * factor + offset in unit `to`;
-- the others pass unchanged (or are dropped with keep = false).  Common
-- pairs are built in, so most recipes only name the two units:
--
--   kk.transform.unit_convert { from = "[degF]", to = "Cel" }
--   kk.transform.unit_convert { from = "W.h", to = "kW.h" }
--   kk.transform.unit_convert { from = "[ppb]", to = "[ppm]", property = "no2" }
--
-- Units are UCUM codes; "degF", "ppm" and "ppb" are accepted without the
-- brackets UCUM puts around them, and the readings keep whichever spelling
-- `to` uses.

-- to_value = from_value * factor + offset, for pairs of bracket-free codes.
-- The reverse of every pair is derived below.
local known = {
  ["degF>Cel"] = { 5 / 9, -32 * 5 / 9 },
  ["K>Cel"] = { 1, -273.15 },
  ["W.h>kW.h"] = { 1e-3, 0 },
  ["kW.h>MW.h"] = { 1e-3, 0 },
  ["W.h>MW.h"] = { 1e-6, 0 },
  ["MW.h>GW.h"] = { 1e-3, 0 },
  ["J>kW.h"] = { 1 / 3.6e6, 0 },
  ["kJ>kW.h"] = { 1 / 3.6e3, 0 },
  ["MJ>kW.h"] = { 1 / 3.6, 0 },
  ["GJ>MW.h"] = { 1 / 3.6, 0 },
  ["W>kW"] = { 1e-3, 0 },
  ["kW>MW"] = { 1e-3, 0 },
  ["ppb>ppm"] = { 1e-3, 0 },
  ["ppm>%"] = { 1e-4, 0 },
  ["Pa>hPa"] = { 1e-2, 0 },
  ["kPa>hPa"] = { 10, 0 },
  ["mbar>hPa"] = { 1, 0 },
  ["bar>hPa"] = { 1e3, 0 },
  ["km/h>m/s"] = { 1 / 3.6, 0 },
  ["g>kg"] = { 1e-3, 0 },
  ["kg>t"] = { 1e-3, 0 },
  ["g>t"] = { 1e-6, 0 },
  ["mg/m3>ug/m3"] = { 1e3, 0 },
  ["L>m3"] = { 1e-3, 0 },
  ["min>s"] = { 60, 0 },
  ["h>s"] = { 3600, 0 },
}
do
  local reverse = {}
  for pair, c in pairs(known) do
    local a, b = pair:match("^(.-)>(.*)$")
    reverse[b .. ">" .. a] = { 1 / c[1], -c[2] / c[1] }
  end
  for pair, c in pairs(reverse) do known[pair] = known[pair] or c end
end

local function bare(unit) return (unit:gsub("[%[%]]", "")) end

return {
  name = "unit_convert",
  kind = "transform",
  summary = "Converts readings from one UCUM unit to another",
  description = [[
Readings whose unit is `from` (and, with `property`, whose observed property
matches) get `value * factor + offset` and the unit `to`; they keep their
thing, property and time.  Other readings pass unchanged unless
`keep = false`.  Built-in pairs, in both directions: [degF]/Cel, K/Cel,
W.h/kW.h/MW.h/GW.h, J/kJ/MJ/GJ to kW.h or MW.h, W/kW/MW, [ppb]/[ppm]/%,
Pa/hPa/kPa/mbar/bar, km/h to m/s, g/kg/t, mg/m3 to ug/m3, L/m3, min/h to s.
For anything else give `factor` (and `offset`).]],
  options = {
    from = { type = "string", required = true,
             description = "UCUM unit of the readings to convert, e.g. \"[degF]\" or \"W.h\"." },
    to = { type = "string", required = true,
           description = "UCUM unit the converted readings get, e.g. \"Cel\" or \"kW.h\"." },
    factor = { type = "double",
               description = "Multiplier, for pairs that are not built in (to = from * factor + offset)." },
    offset = { type = "double",
               description = "Added after the factor; only together with factor." },
    property = { type = "string",
                 description = "Convert only readings of this observed property." },
    keep = { type = "bool", default = true,
             description = "Pass readings that are not converted on unchanged (false drops them)." },
  },

  create = function(o)
    local factor, offset = o.factor, o.offset
    if factor == nil then
      if offset ~= nil then
        error("unit_convert: 'offset' needs 'factor' as well", 0)
      end
      local c = known[bare(o.from) .. ">" .. bare(o.to)]
      if not c then
        error(("unit_convert: no built-in conversion from %s to %s: give "
               .. "factor (and offset)"):format(o.from, o.to), 0)
      end
      factor, offset = c[1], c[2]
    end
    return { from = o.from, to = o.to, factor = factor, offset = offset or 0,
             property = o.property, keep = o.keep,
             -- datastream id -> converted datastream id, or false
             target = {} }
  end,

  process = function(s, batch, emit)
    local target, factor, offset, keep = s.target, s.factor, s.offset, s.keep
    for r in batch:readings() do
      local ds = r.ds
      local t = target[ds]
      if t == nil then
        -- First reading of this datastream: decide once, by id afterwards.
        if r.unit == s.from and (s.property == nil or r.property == s.property) then
          r.unit = s.to
          t = r.ds
        else
          t = false
        end
        target[ds] = t
      end
      if t then
        r.ds = t
        r.value = r.value * factor + offset
        emit(r)
      elseif keep then
        emit(r)
      end
    end
  end,
}
