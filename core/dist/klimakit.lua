-- /etc/klimakit/klimakit.lua - the recipe klimakit.service runs.
--
-- It runs one of the recipes installed under /usr/share/klimakit/recipes:
-- by default the school recipe on simulated data (schulen-co2-ampel: 19
-- classrooms in three schools, CO2 traffic lights, lesson-time minutes,
-- alerts into the data directory, a public view of schools only and an
-- internal one by token; a dashboard on $KLIMAKIT_HTTP, default
-- 127.0.0.1:8080).  The whole Musterstadt is recipes/demo.lua.  To run
-- another one, change the path below (and `systemctl reload klimakit`);
-- to write your own,
-- replace this file with it (`klimakit check /etc/klimakit/klimakit.lua`
-- first).  A package upgrade keeps your version of this file.
--
-- Endpoints, passwords and the dashboard address belong in
-- /etc/default/klimakit (environment variables the recipes read with
-- kk.env), not here.  State goes to /var/lib/klimakit.
local recipe = "/usr/share/klimakit/recipes/schulen-co2-ampel/recipe.lua"

-- The recipe's own files (decoders, sample data, docs) are found
-- beside it, as when it is run directly.
local kk = require "klimakit"
kk.dir = recipe:match("^(.*)/")
dofile(recipe)
