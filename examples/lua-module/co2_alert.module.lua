-- examples/lua-module/co2_alert.module.lua - a Lua module with state that
-- survives restarts: one event when a room's CO2 rises to `high` ppm, one
-- when it falls back below `low` (hysteresis, so a value wobbling around
-- the limit does not fire again and again).
--
-- Which rooms are in an episode is the state.  `save` hands it to klimakit,
-- which writes it to the stage's directory every `snapshot`, on a clean
-- stop, and at once when `process` returns true (here: whenever an event
-- fired).  After a restart `restore` puts it back and the journal is
-- replayed from the last save, so an event that fired before a crash does
-- not fire again, and one for a record the crash interrupted still fires:
-- neither twice nor never.  See README.md, "State that survives restarts".
return {
  name = "co2_alert",
  kind = "transform",
  ns = "calc",
  summary = "CO2 episode events (high/low with hysteresis) that survive restarts",
  description = [[
Emits `alert_co2` (unit 1) for a room: value 1 when its CO2 reaches `high`
ppm, value 0 when it falls below `low` again, at the time of the reading
that decided.  Readings of other properties are dropped.  The open
episodes are saved (see the module guide), so a restart or a crash never
repeats an event nor drops one.]],

  options = {
    high = { type = "double", default = 1400, min = 0, max = 100000,
             description = "CO2 in ppm at which an episode opens." },
    low = { type = "double", default = 1000, min = 0, max = 100000,
            description = "CO2 in ppm below which it closes again." },
  },

  create = function(o)
    if o.low > o.high then error("low must not be above high", 0) end
    return { high = o.high, low = o.low, open = {} } -- thing -> time opened
  end,

  process = function(s, batch, emit)
    local changed = false
    for r in batch:readings() do
      if r.property == "co2" and r.unit == "ppm" then
        local thing = r.thing
        if not s.open[thing] and r.value >= s.high then
          s.open[thing] = r.time
          emit { thing = thing, property = "alert_co2", unit = "1", time = r.time, value = 1 }
          changed = true
        elseif s.open[thing] and r.value < s.low then
          s.open[thing] = nil
          emit { thing = thing, property = "alert_co2", unit = "1", time = r.time, value = 0 }
          changed = true
        end
      end
    end
    return changed -- true: save the state now, before anything else happens
  end,

  -- What to keep: strings, numbers, booleans and tables (string keys or a
  -- sequence).  Called on the loop thread, so keep it small.
  save = function(s)
    return { open = s.open }
  end,

  -- Called once at start with what `save` returned last time (not at all
  -- on the first start), after `create`.
  restore = function(s, saved)
    s.open = saved.open or {}
  end,
}
