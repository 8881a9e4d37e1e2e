-- /etc/klimakit/klimakit.lua - the recipe klimakit.service runs.
--
-- It runs one of the recipes installed under /usr/share/klimakit/recipes:
-- by default the Musterstadt demo on simulated data and sample files
-- (19 classrooms in three schools, municipal buildings, the BISKO balance,
-- measures, air stations, PV; a dashboard on $KLIMAKIT_HTTP, default
-- 127.0.0.1:8080).  To run another one, change
-- the path below (and `systemctl reload klimakit`); to write your own,
-- replace this file with it (`klimakit check /etc/klimakit/klimakit.lua`
-- first).  A package upgrade keeps your version of this file.
--
-- Endpoints, passwords and the dashboard address belong in
-- /etc/default/klimakit (environment variables the recipes read with
-- kk.env), not here.  State goes to /var/lib/klimakit.
local recipe = "/usr/share/klimakit/recipes/demo.lua"

-- The recipe's own files (decoders, sample data, docs) are found
-- beside it, as when it is run directly.
local kk = require "klimakit"
kk.dir = recipe:match("^(.*)/")
dofile(recipe)
