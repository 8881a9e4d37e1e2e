# modules/calc/rules.mk - the calculators' emission factor table (included
# by the Makefile).
#
#   make factors   regenerate modules/calc/calc_factors_data.c from the CSV files
#                  in modules/calc/data/ (tests/e2e/test_calc.sh fails while
#                  the committed file is stale)
.PHONY: factors
factors:
	python3 modules/calc/gen_factors.py > modules/calc/calc_factors_data.c.tmp
	mv modules/calc/calc_factors_data.c.tmp modules/calc/calc_factors_data.c
