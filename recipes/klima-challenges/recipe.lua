-- recipes/klima-challenges/recipe.lua - Klima-Challenges: participation
-- with points.  Pseudonymous, opted-in participants in teams (school
-- classes, companies, clubs) and districts collect points for electricity
-- saved against their own baseline, for kilometres cycled and for
-- supporting a local initiative; the public leaderboard (/challenges)
-- shows teams and districts only.  The playbook (playbook.md) explains
-- every step, the factors and the data protection.
--
-- Embedded defaults: data/teilnehmende.csv (42 pseudonyms), rides in a
-- Stadtradeln-like CSV (data/radkilometer.csv), actions as JSON lines
-- (data/aktionen.jsonl) and twelve simulated household electricity meters
-- (September to November 2026; class 7b saves a fifth from October).
-- Environment variables:
--   CHALLENGES_TEILNEHMENDE  the participants CSV
--   CHALLENGES_RAD           the rides CSV (thing,property,unit,time,value)
--   CHALLENGES_AKTIONEN      the actions (JSON lines)
--   CHALLENGES_TOKENS        SHA-256 digests of the upload tokens (app)
--   KLIMAKIT_HTTP            address of the dashboard and the upload API
local kk = require "klimakit"

local listen = kk.env("KLIMAKIT_HTTP", "127.0.0.1:8080")
local data = kk.dir .. "/data/"
kk.config { exit_when_done = false }

local METERS = { "p-1e7ea4", "p-f38b2f", "p-dc28ff", "p-e255ac", "p-99dd25", "p-6bad6b",
                 "p-8c3d5f", "p-c6cd75", "p-c0433c", "p-70eb9a", "p-9d3c7d", "p-498893" }
-- Household meters (kWh, cumulative), four readings a day, 1 Sept - 30 Nov.
local meters = kk.source.simulate {
  sensors = #METERS, seed = 7, interval = "6h", realtime = false,
  start = "2026-09-01T00:00:00Z", count = #METERS * 4 * 91, quantities = "energy",
}
-- The simulator's rooms become the participants' pseudonyms; the nine
-- members of class 7b (the first nine) use a fifth less from October.
local oct = 1790812800000 -- 2026-10-01T00:00:00Z
local at = {}
local households = kk.map(function(r)
  local i = tonumber(r.thing:match("(%d+)$"))
  local v = r.value
  if i <= 9 and r.time >= oct then
    at[i] = at[i] or v
    v = at[i] + (v - at[i]) * 0.8
  end
  return { thing = METERS[i], property = r.property, unit = r.unit, time = r.time, value = v }
end)
local rides = kk.source.file { path = kk.env("CHALLENGES_RAD", data .. "radkilometer.csv") }
local actions = kk.source.file { path = kk.env("CHALLENGES_AKTIONEN", data .. "aktionen.jsonl") }
-- An app uploads rides and actions: POST JSON readings with a token.
local uploads = kk.source.http {
  listen = listen, path = "/api/challenges/uploads",
  tokens_file = kk.env("CHALLENGES_TOKENS", data .. "tokens.sha256"),
}

local challenges = kk.calc.challenges {
  participants_file = kk.env("CHALLENGES_TEILNEHMENDE", data .. "teilnehmende.csv"),
  min_team = 3,
  retention = "180d",
  challenges = {
    { id = "strom", kind = "energy", title = "Strom sparen",
      from = "2026-10-01", to = "2026-11-01",
      baseline = { from = "2026-09-01", to = "2026-10-01" },
      points_per = 1, factor = 0.505,
      factor_source = "BISKO-Faktor Strom Bundesmix (Bilanzjahr 2022): 505 g CO2e/kWh, "
        .. "Methodenpapier BISKO der Agentur für kommunalen Klimaschutz, Juli 2024" },
    { id = "rad", kind = "cycling", title = "Rad statt Auto",
      from = "2026-09-14", to = "2026-10-05",
      points_per = 1, factor = 0.21,
      factor_source = "Schätzung: 337 g CO2e/kWh (BISKO 2024, Benzin, Well-to-Wheel) "
        .. "x 0,62 kWh/km (7 l/100 km x 8,9 kWh/l) = 0,21 kg/km" },
    { id = "initiative", kind = "action", title = "Initiative unterstützen",
      property = "action_initiative", from = "2026-10-01", to = "2026-11-01",
      points_per = 10, factor = 0,
      factor_source = "keine CO2e-Anrechnung (Wirkung indirekt)" },
  },
}
local store = kk.store.sqlite {}
local web = kk.publish.http { listen = listen, title = "Musterstadt – Klima-Challenges", store = "sqlite" }

kk.pipe(meters, households, challenges)
kk.pipe({ rides, actions, uploads }, challenges)
-- Only the team and district aggregates are stored and published.
kk.pipe(challenges, { store, web })
