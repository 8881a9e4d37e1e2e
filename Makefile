# klimakit - build, test, run.
#
#   make            build build/klimakit
#   make run        run the demo recipe (recipes/demo.lua), /docs served
#   make docs       build the documentation site into build/site (checked)
#   make test       install missing Debian packages, build, run the tests
#   make deps       only install missing Debian packages (needs root)
#   make SANITIZE=address,undefined test   the same under ASan+UBSan
#   make leakcheck  the C unit tests and a recipe run under valgrind
#   make bench      figures as `bench <name> <value> <unit>` lines
#   make fuzz       build and run every libFuzzer target (tests/fuzz/rules.mk)
#   make factors    regenerate the factor table (modules/calc/rules.mk)
#   make format     clang-format every C file
#   make format-check  fail when a C file is not as `make format` leaves it
#   make install PREFIX=/usr/local DESTDIR=
#   make uninstall PREFIX=/usr/local DESTDIR=   remove what install put there
#   make man        the man pages klimakit(1), klimakit-recipe(5) (build/man/)
#   make deb        a Debian package build/klimakit_<version>_<arch>.deb

PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
SANITIZE ?=
WERROR   ?= $(if $(CI),-Werror,)

# pkg-config name -> Debian package; `make deps` installs what is missing.
PKG_DEPS := libuv:libuv1-dev lua5.4:liblua5.4-dev libcjson:libcjson-dev \
            zlib:zlib1g-dev libmosquitto:libmosquitto-dev \
            libcoap-3-openssl:libcoap3-dev libcbor:libcbor-dev \
            sqlite3:libsqlite3-dev libpq:libpq-dev libh2o:libh2o-dev \
            openssl:libssl-dev libcmark-gfm:libcmark-gfm-dev libcurl:libcurl4-openssl-dev
PKG_DEPS += libzip:libzip-dev
PKG_DEPS += libisal:libisal-dev
# Commands the build and the tests need -> Debian package.
CMD_DEPS := pkg-config:pkg-config python3:python3 lua5.4:lua5.4 \
            valgrind:valgrind mosquitto:mosquitto mosquitto_pub:mosquitto-clients \
            coap-client-openssl:libcoap3-bin wrk:wrk curl:curl \
            chromium:chromium openssl:openssl \
            clang:clang
CMD_DEPS += cmark-gfm:cmark-gfm lintian:lintian systemd-analyze:systemd dpkg-shlibdeps:dpkg-dev fakeroot:fakeroot man:man-db
# Runtime files without pkg-config.
FILE_DEPS := /usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so:lua-cjson \
             /usr/share/zoneinfo/Europe/Berlin:tzdata \
             /usr/lib/postgresql/15/bin/initdb:postgresql \
             /usr/include/mbedtls/md.h:libmbedtls-dev \
             /usr/include/cmark-gfm-core-extensions.h:libcmark-gfm-extensions-dev \
             /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a:libclang-rt-14-dev

ifeq ($(SANITIZE),)
BUILD := build
SANFLAGS :=
else
BUILD := build/san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKGS     := $(foreach d,$(PKG_DEPS),$(firstword $(subst :, ,$(d))))
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libpq and libcurl are not linked: the modules that use them load them
# on first use (modules/net/net_lib.h), by the soname they were built
# against; LAZY_LIBS is for the tools that call them directly.
LAZY_PKGS  := libpq libcurl
PKG_LIBS   = $(shell pkg-config --libs $(filter-out $(LAZY_PKGS),$(PKGS)) 2>/dev/null)
LAZY_LIBS  = $(shell pkg-config --libs $(LAZY_PKGS) 2>/dev/null)
lib_soname = $(shell objdump -p "$$(pkg-config --variable=libdir $(1) 2>/dev/null)/$(2)" 2>/dev/null | sed -n 's/^ *SONAME *//p')
KK_LIBPQ_SO   = $(call lib_soname,libpq,libpq.so)
KK_LIBCURL_SO = $(call lib_soname,libcurl,libcurl.so)

CFLAGS   ?= -O2 -g
BASE_CFLAGS := -std=c11 -Wall -Wextra -Wpedantic $(WERROR) -D_GNU_SOURCE \
             -Iinclude -I$(BUILD)/gen $(SANFLAGS) \
             -DKK_DATADIR='"$(PREFIX)/share/klimakit"' \
             -DKK_MODULEDIR='"$(PREFIX)/lib/klimakit/modules"'
# The boundaries are the compiler's: core sees its own headers, a module
# sees include/ and modules/ (its family layer and modules/net/), never
# core/.  Tests and tools see both.
CORE_CFLAGS := $(BASE_CFLAGS) -Icore
MOD_CFLAGS  := $(BASE_CFLAGS) -Imodules
KK_CFLAGS   := $(BASE_CFLAGS) -Icore -Imodules
# -Wl,-E exports the Lua C API so that Lua C modules (cjson.so) load.
KK_LDFLAGS := -Wl,-E $(SANFLAGS)
KK_LIBS = $(PKG_LIBS) -lmbedcrypto -lm -lpthread -ldl

CORE_SRC   := $(sort $(wildcard core/*.c))
MODULE_SRC := $(sort $(wildcard modules/*/*.c modules/*/*/*.c))
LIB_SRC    := $(filter-out core/main.c,$(CORE_SRC)) $(MODULE_SRC)
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/modules_table.o
MAIN_OBJ   := $(BUILD)/obj/core/main.o
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN  := $(BUILD)/kk-bench

.PHONY: all deps run test unit leakcheck bench format format-check install \
        uninstall clean check-deps
all: $(BUILD)/klimakit

# ---- dependencies ----------------------------------------------------------
deps:
	@missing=""; \
	for d in $(PKG_DEPS); do p=$${d%%:*}; deb=$${d#*:}; \
	  pkg-config --exists $$p 2>/dev/null || missing="$$missing $$deb"; done; \
	for d in $(CMD_DEPS); do c=$${d%%:*}; deb=$${d#*:}; \
	  command -v $$c >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	for d in $(FILE_DEPS); do f=$${d%%:*}; deb=$${d#*:}; \
	  [ -e $$f ] || missing="$$missing $$deb"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: need root to install:$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq </dev/null && \
	  apt-get install -y -qq --no-install-recommends $$missing </dev/null >/dev/null || exit 1; \
	else echo "deps: all present"; fi

# ---- build -----------------------------------------------------------------
# The table of built-in modules is generated from the sources, and the
# generator stops the build when a module is not where its name says
# (kk.<ns>.<name> at modules/<ns>/<name>.c or modules/<ns>/<name>/) or when
# an `ns.name` appears twice.
$(BUILD)/gen/modules_table.c: $(MODULE_SRC) core/gen_modules_table.py Makefile
	@mkdir -p $(@D)
	@python3 core/gen_modules_table.py $@.tmp $(MODULE_SRC) && mv $@.tmp $@

$(BUILD)/obj/gen/modules_table.o: $(BUILD)/gen/modules_table.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MOD_CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# -MMD: every object also depends on the headers it included (module-local
# headers too); the .d files are read below.
HDRS := $(wildcard include/*.h include/klimakit/*.h core/*.h)
$(BUILD)/obj/core/%.o: core/%.c $(HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CORE_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/modules/net/net_curl_api.o: MOD_CFLAGS += $(if $(KK_LIBCURL_SO),-DKK_LIBCURL_SO='"$(KK_LIBCURL_SO)"')
$(BUILD)/obj/modules/store/postgres/postgres_api.o: MOD_CFLAGS += $(if $(KK_LIBPQ_SO),-DKK_LIBPQ_SO='"$(KK_LIBPQ_SO)"')
$(BUILD)/obj/modules/%.o: modules/%.c $(HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MOD_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# The command that compiles a module, for tests/e2e/test_boundaries.sh:
# it proves that a module cannot include a core header.
.PHONY: print-module-cflags
print-module-cflags:
	@echo $(CC) $(CFLAGS) $(MOD_CFLAGS) $(PKG_CFLAGS)

$(BUILD)/libklimakit.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/klimakit: $(MAIN_OBJ) $(BUILD)/libklimakit.a
	$(CC) $(KK_LDFLAGS) -o $@ $(MAIN_OBJ) -Wl,--whole-archive $(BUILD)/libklimakit.a -Wl,--no-whole-archive $(KK_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/support/*.h) $(BUILD)/libklimakit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(PKG_CFLAGS) -Itests/unit $(KK_LDFLAGS) -o $@ $< \
	  -Wl,--whole-archive $(BUILD)/libklimakit.a -Wl,--no-whole-archive $(KK_LIBS)

$(BENCH_BIN): tests/bench/kk_bench.c tests/bench/bench_journal.c $(BUILD)/libklimakit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KK_CFLAGS) $(PKG_CFLAGS) $(KK_LDFLAGS) -o $@ $< \
	  -Wl,--whole-archive $(BUILD)/libklimakit.a -Wl,--no-whole-archive $(KK_LIBS)

# ---- use -------------------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory all docs
	./$(BUILD)/klimakit run --data-dir var/demo recipes/demo.lua

unit: $(UNIT_BIN)

test: deps
	@$(MAKE) --no-print-directory all unit
	KK_BUILD=$(BUILD) tests/run.sh

leakcheck: deps
	@$(MAKE) --no-print-directory all unit
	KK_BUILD=$(BUILD) KK_VALGRIND=1 tests/run.sh unit leak

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	KK_BUILD=$(BUILD) tests/bench/run.sh

# The chaos suite (tests/chaos/run.sh, docs/guide/reliability.md): crashes,
# damaged journals, a full disk, a stopped database, floods; <= 5 min.
# `make soak` runs it at larger sizes and repeats it for 30 minutes.
.PHONY: chaos soak
chaos: deps
	@$(MAKE) --no-print-directory all
	KK_BUILD=$(BUILD) tests/chaos/run.sh
soak: deps
	@$(MAKE) --no-print-directory all
	KK_BUILD=$(BUILD) KK_SOAK=1 tests/chaos/run.sh

# The whole C tree: core, the public headers, the modules at every depth
# with their headers, and the C files of the tests.  The factor table is
# left out: it is generated (make factors), and test_calc.sh compares it
# with the generator's output byte for byte.
FORMAT_SRC := $(filter-out modules/calc/calc_factors_data.c, \
                $(sort $(wildcard core/*.c core/*.h include/*.h include/klimakit/*.h \
                  modules/*/*.c modules/*/*.h modules/*/*/*.c modules/*/*/*.h \
                  tests/*/*.c tests/*/*.h)))

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run -Werror $(FORMAT_SRC)

# ---- documentation site ----------------------------------------------------
# `klimakit docs build`: docs/ and recipes/*/playbook.md as a static site
# with every link, anchor and playbook section checked.  Always rebuilt
# (it takes well under a second).  The site lives in build/site for every
# BUILD: the demo's publish.http serves docs/../build/site under /docs.
SITE_DIR := build/site
.PHONY: docs
docs: all
	./$(BUILD)/klimakit docs build --out $(SITE_DIR)

# ---- man pages -------------------------------------------------------------
# klimakit(1) from docs/reference/cli.md and klimakit-recipe(5) from
# docs/guide/recipes.md, rendered by cmark-gfm (core/dist/man/manpage.py
# adds the header sections and the .TH line).  `man -l build/man/klimakit.1`.
KK_VERSION := $(shell sed -n 's/.*KK_VERSION_STRING "\(.*\)"/\1/p' include/klimakit.h)
# The date of the last commit, so that a rebuild gives the same page.
MAN_DATE   := $(shell git log -1 --format=%cd --date=format:%Y-%m-%d 2>/dev/null || date -u +%Y-%m-%d)
MAN_PAGES  := $(BUILD)/man/klimakit.1 $(BUILD)/man/klimakit-recipe.5
man: $(MAN_PAGES)

$(BUILD)/man/klimakit.1: core/dist/man/klimakit.1.md docs/reference/cli.md core/dist/man/klimakit.1.tail.roff core/dist/man/manpage.py
	@mkdir -p $(@D)
	python3 core/dist/man/manpage.py klimakit 1 $(KK_VERSION) $(MAN_DATE) $(filter-out %.py,$^) > $@.tmp && mv $@.tmp $@

$(BUILD)/man/klimakit-recipe.5: core/dist/man/klimakit-recipe.5.md docs/guide/recipes.md core/dist/man/klimakit-recipe.5.tail.roff core/dist/man/manpage.py
	@mkdir -p $(@D)
	python3 core/dist/man/manpage.py klimakit-recipe 5 $(KK_VERSION) $(MAN_DATE) $(filter-out %.py,$^) > $@.tmp && mv $@.tmp $@

# ---- install ---------------------------------------------------------------
# Lua modules live beside the C ones (modules/<ns>/*.lua) and are installed
# side by side into one folder, where the core scans for them.  The
# recipes go as a tree (recipes/<name>/ with its data, recipes/decoders/),
# so that "recipes/decoders/x.lua" resolves under KK_DATADIR, and docs/
# goes to share/klimakit/docs, the site the dashboard serves (the shipped
# recipes set docs_dir = kk.dir .. "/../docs").  Out-of-tree C modules go
# to lib/klimakit/modules (pkg-config --variable=moduledir klimakit).
INSTALL_LUA_MODULES := $(wildcard modules/*/*.lua)
SHARE := $(DESTDIR)$(PREFIX)/share/klimakit
# klimakit.pc has no Libs (nothing arch-dependent): the package puts it
# in /usr/share/pkgconfig.
PKGCONFIGDIR ?= $(PREFIX)/lib/pkgconfig

install: all docs man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/klimakit \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(PREFIX)/lib/klimakit/modules \
	  $(SHARE)/modules $(SHARE)/recipes $(SHARE)/docs \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(BUILD)/klimakit $(DESTDIR)$(PREFIX)/bin/klimakit
	install -m 644 include/klimakit.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/klimakit/*.h $(DESTDIR)$(PREFIX)/include/klimakit/
	install -m 644 $(INSTALL_LUA_MODULES) $(SHARE)/modules/
	cd recipes && find . -type d -name var -prune -o -type d -print | while read -r dir; do \
	  install -d "$(SHARE)/recipes/$$dir"; done
	cd recipes && find . -type d -name var -prune -o -type f -print | while read -r f; do \
	  install -m 644 "$$f" "$(SHARE)/recipes/$$f"; done
	cp -r docs/. $(SHARE)/docs/
	rm -rf $(SHARE)/docs/html && cp -r $(SITE_DIR) $(SHARE)/docs/html
	install -m 644 $(BUILD)/man/klimakit.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(BUILD)/man/klimakit-recipe.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(KK_VERSION)|' \
	  include/klimakit.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/klimakit.pc

# Removes exactly the files install puts there (the same lists, read from
# the tree), then klimakit's own folders when they are left empty.  The
# shared ones (bin, include, lib/pkgconfig, share/man...) go too when they
# are empty, but only under a DESTDIR: that tree is a staging copy, while
# a /usr/local/bin of the system stays even when empty.  (Lazy: the
# lists are made only when uninstall runs.)
DOC_FILES    = $(shell cd docs && find . -type f | sed 's|^\./||')
DOC_DIRS     = $(shell cd docs && find . -mindepth 1 -type d | sed 's|^\./||' | sort -r)
RECIPE_FILES = $(shell cd recipes && find . -type d -name var -prune -o -type f -print | sed 's|^\./||')
RECIPE_DIRS  = $(shell cd recipes && find . -mindepth 1 -type d -name var -prune -o -mindepth 1 -type d -print | sed 's|^\./||' | sort -r)
UNINSTALL_DIRS = share/klimakit/modules $(addprefix share/klimakit/recipes/,$(RECIPE_DIRS)) \
                 share/klimakit/recipes $(addprefix share/klimakit/docs/,$(DOC_DIRS)) \
                 share/klimakit/docs share/klimakit lib/klimakit/modules lib/klimakit \
                 include/klimakit \
                 $(if $(DESTDIR),share/man/man1 share/man/man5 share/man share include lib/pkgconfig lib bin)

uninstall:
	rm -rf $(SHARE)/docs/html
	rm -f $(DESTDIR)$(PREFIX)/bin/klimakit $(DESTDIR)$(PREFIX)/include/klimakit.h \
	  $(addprefix $(DESTDIR)$(PREFIX)/include/klimakit/,$(notdir $(wildcard include/klimakit/*.h))) \
	  $(addprefix $(SHARE)/modules/,$(notdir $(INSTALL_LUA_MODULES))) \
	  $(addprefix $(SHARE)/recipes/,$(RECIPE_FILES)) \
	  $(addprefix $(SHARE)/docs/,$(DOC_FILES)) \
	  $(DESTDIR)$(PREFIX)/share/man/man1/klimakit.1 $(DESTDIR)$(PREFIX)/share/man/man5/klimakit-recipe.5 \
	  $(DESTDIR)$(PKGCONFIGDIR)/klimakit.pc
	@for d in $(UNINSTALL_DIRS); do \
	  [ ! -d "$(DESTDIR)$(PREFIX)/$$d" ] || rmdir --ignore-fail-on-non-empty "$(DESTDIR)$(PREFIX)/$$d"; \
	done

# ---- Debian package --------------------------------------------------------
# `make deb`: build/klimakit_<version>_<arch>.deb from a `make install`
# staging with PREFIX=/usr (its own build directory, because KK_DATADIR
# and KK_MODULEDIR are compiled in), plus the files of core/dist/: the
# systemd unit, /etc/klimakit/klimakit.lua and /etc/default/klimakit
# (conffiles), the maintainer scripts.  Depends come from the shared
# libraries the binary links (dpkg-shlibdeps) and the packages of the two
# it loads on first use (libpq, libcurl: dpkg -S of their sonames).  Debian 12 tools only:
# dpkg-deb, dpkg-shlibdeps, fakeroot not needed (--root-owner-group).
DEB_BUILD   := build/pkg
DEB_ROOT    := $(DEB_BUILD)/root
DEB_ARCH     = $(shell dpkg --print-architecture)
DEB_FILE     = build/klimakit_$(KK_VERSION)_$(DEB_ARCH).deb
DEB_MAINT   ?= klimakit maintainers <klimakit@localhost.invalid>
DEB_HOME    ?= https://klimakit.invalid/
# Debian's hardening flags (stack protector, _FORTIFY_SOURCE, PIE, full
# RELRO, BIND_NOW), as dpkg-buildflags gives them to every package.
DEB_FLAGS    = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
DEB_CFLAGS   = $(shell $(DEB_FLAGS) CFLAGS) $(shell $(DEB_FLAGS) CPPFLAGS)
DEB_LDFLAGS  = $(shell $(DEB_FLAGS) LDFLAGS)
.PHONY: deb man
deb:
	rm -rf $(DEB_ROOT)
	$(MAKE) --no-print-directory BUILD=$(DEB_BUILD) PREFIX=/usr PKGCONFIGDIR=/usr/share/pkgconfig \
	  CFLAGS="$(DEB_CFLAGS)" KK_LDFLAGS="-Wl,-E $(DEB_LDFLAGS)" DESTDIR=$(abspath $(DEB_ROOT)) install
	strip --strip-unneeded --remove-section=.comment --remove-section=.note $(DEB_ROOT)/usr/bin/klimakit
	install -d $(DEB_ROOT)/DEBIAN $(DEB_ROOT)/etc/klimakit $(DEB_ROOT)/etc/default \
	  $(DEB_ROOT)/lib/systemd/system $(DEB_ROOT)/usr/share/doc/klimakit
	install -m 644 core/dist/klimakit.lua $(DEB_ROOT)/etc/klimakit/klimakit.lua
	install -m 644 core/dist/klimakit.default $(DEB_ROOT)/etc/default/klimakit
	install -m 644 core/dist/klimakit.service $(DEB_ROOT)/lib/systemd/system/
	install -m 644 core/dist/debian/copyright $(DEB_ROOT)/usr/share/doc/klimakit/
	install -m 644 README.md $(DEB_ROOT)/usr/share/doc/klimakit/
	sed -e 's|@VERSION@|$(KK_VERSION)|' -e 's|@MAINTAINER@|$(DEB_MAINT)|' \
	  -e "s|@DATE@|$$(date -R -d $(MAN_DATE))|" core/dist/debian/changelog | \
	  gzip -9n > $(DEB_ROOT)/usr/share/doc/klimakit/changelog.gz
	gzip -9nf $(DEB_ROOT)/usr/share/man/man1/klimakit.1 $(DEB_ROOT)/usr/share/man/man5/klimakit-recipe.5
	install -m 644 core/dist/debian/conffiles $(DEB_ROOT)/DEBIAN/
	install -m 755 core/dist/debian/postinst core/dist/debian/prerm core/dist/debian/postrm $(DEB_ROOT)/DEBIAN/
	mkdir -p $(DEB_BUILD)/shlibs/debian && printf 'Source: klimakit\n\nPackage: klimakit\nArchitecture: any\n' \
	  > $(DEB_BUILD)/shlibs/debian/control
	deps=$$(cd $(DEB_BUILD)/shlibs && dpkg-shlibdeps -O $(abspath $(DEB_ROOT))/usr/bin/klimakit 2>/dev/null | \
	  sed -n 's/^shlibs:Depends=//p'); \
	[ -n "$$deps" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }; \
	for so in $(KK_LIBPQ_SO) $(KK_LIBCURL_SO); do \
	  p=$$(dpkg -S "*/$$so" 2>/dev/null | head -1 | cut -d: -f1); \
	  [ -n "$$p" ] || { echo "deb: no package has $$so" >&2; exit 1; }; deps="$$deps, $$p"; done; \
	size=$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1); \
	sed -e 's|@VERSION@|$(KK_VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' -e 's|@MAINTAINER@|$(DEB_MAINT)|' \
	  -e "s|@SIZE@|$$size|" -e "s|@DEPENDS@|$$deps|" -e 's|@HOMEPAGE@|$(DEB_HOME)|' \
	  core/dist/debian/control.in > $(DEB_ROOT)/DEBIAN/control
	cd $(DEB_ROOT) && find . -path ./DEBIAN -prune -o -type f -print | grep -v '^./etc/' | sed 's|^\./||' | \
	  sort | xargs md5sum > DEBIAN/md5sums
	find $(DEB_ROOT) -type d -exec chmod 755 {} + && find $(DEB_ROOT) -type f ! -perm -100 -exec chmod 644 {} +
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB_FILE)
	@echo "deb: $(DEB_FILE)"

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)

# Further rules of a part of the project live beside its sources: the
# modules' (modules/calc/rules.mk: make factors) and the tests' and their
# tools' (tests/fuzz/rules.mk: make fuzz, tests/bench/rules.mk, ...).
-include $(sort $(wildcard modules/*/rules.mk tests/*/rules.mk))
