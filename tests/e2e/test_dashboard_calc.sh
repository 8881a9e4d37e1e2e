#!/usr/bin/env bash
# Dashboard pages fed by calculators (see dashboard_calc.py).
exec python3 "$(dirname "$0")/dashboard_calc.py"
