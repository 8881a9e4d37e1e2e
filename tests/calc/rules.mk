# tests/calc/rules.mk - the calculators' emission factor table.
#
#   make factors   regenerate modules/calc/factors_data.c from the CSV files
#                  in modules/calc/data/ (tests/e2e/test_calc.sh fails while
#                  the committed file is stale)
.PHONY: factors
factors:
	python3 modules/calc/gen_factors.py > modules/calc/factors_data.c.tmp
	mv modules/calc/factors_data.c.tmp modules/calc/factors_data.c
