# kyrodb: a PGXS build of the extension, plus the developer entry points
# (make test, make demo, make bench, make soak, make fuzz, make stop).
#
# The entry points must work on a fresh machine before PostgreSQL's dev files
# exist, so PGXS is included only when it is there; test/scripts/deps.sh
# installs it and the scripts re-enter make.

# kyrodb has its own vector type; kyrodb_pgvector (companion mode) puts the
# same index on pgvector's type. One library serves both.
EXTENSION  = kyrodb kyrodb_pgvector
MODULE_big = kyrodb

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS   = $(sort $(wildcard src/pg/*/*.cpp))
OBJS      = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)
KYRODB_HDRS = $(wildcard include/kyrodb/*.h src/pg/*.h src/pg/*/*.h)

# kyrodb's install script of the current version, and the updates that bring
# older databases to it (ALTER EXTENSION kyrodb UPDATE). kyrodb_pgvector's is
# made from kyrodb's (its index part, on pgvector's type), so they cannot drift.
DATA = $(sort $(wildcard sql/kyrodb--*.sql))
DATA_built = sql/kyrodb_pgvector--0.3.0.sql

# pg_regress reads sql/NAME.sql and compares with expected/NAME.out.
REGRESS = $(patsubst sql/%.sql,%,$(filter-out $(foreach e,$(EXTENSION),sql/$(e)--%),$(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=kyrodb

# C++17, hidden symbols: only the entry points (marked PGDLLEXPORT) are exported.
VISIBILITY = -fvisibility=hidden -fvisibility-inlines-hidden
PG_CPPFLAGS = -Iinclude -Isrc/pg '-DPGDLLEXPORT=__attribute__((visibility("default")))'
PG_CXXFLAGS = -std=c++17 -O3 $(VISIBILITY) -Wno-missing-field-initializers -Wno-register
SHLIB_LINK  = -lstdc++ -Wl,--version-script=src/pg/exports.map

# make test SANITIZE=1: kyrodb and the core's tests with ASan and UBSan (the
# server then runs with the ASan runtime preloaded: test/scripts/test.sh).
# Objects depend on a stamp of this choice, so switching rebuilds everything.
SANITIZE ?= 0
# hnswlib's SIMD path reads one id past a full neighbour list to prefetch (harmless in practice,
# reported by ASan): its scalar path is built instead.
SANITIZER_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                  -DNO_MANUAL_VECTORIZATION -Wno-maybe-uninitialized
ifeq ($(SANITIZE),1)
PG_CXXFLAGS += $(SANITIZER_FLAGS)
SHLIB_LINK  += $(SANITIZER_FLAGS)
endif
FLAGS_STAMP = .build-flags
BUILD_FLAGS = SANITIZE=$(SANITIZE) $(if $(filter 1,$(SANITIZE)),$(SANITIZER_FLAGS))
$(shell echo '$(BUILD_FLAGS)' | cmp -s - $(FLAGS_STAMP) || echo '$(BUILD_FLAGS)' > $(FLAGS_STAMP))

# No LLVM bitcode: it would need clang at install time and buys nothing here.
override with_llvm = no

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
$(OBJS): $(KYRODB_HDRS) $(FLAGS_STAMP)
$(shlib): src/pg/exports.map
sql/kyrodb_pgvector--0.3.0.sql: sql/kyrodb--0.3.0.sql sql/kyrodb_pgvector.sed
	sed -f sql/kyrodb_pgvector.sed $< > $@
else
all:
	@echo "PostgreSQL 15 server dev files are missing: run 'make test' or 'make deps' first" >&2
	@exit 1
endif

# Kernels of one instruction set are compiled with its flags and chosen at run time.
ISA_FLAGS_avx2   = -mavx2 -mfma
ISA_FLAGS_avx512 = -mavx512f
src/core/distance_avx2.o:   CXXFLAGS += $(ISA_FLAGS_avx2)
src/core/distance_avx512.o: CXXFLAGS += $(ISA_FLAGS_avx512)
# RowCodes' bound loop vectorizes only if sqrt need not set errno or raise
# floating-point exceptions; nothing reads either, and results are the same.
ROW_CODES_FLAGS = -fno-math-errno -fno-trapping-math
src/core/row_codes.o: CXXFLAGS += $(ROW_CODES_FLAGS)

# ---------------------------------------------------------------------------
# The core without Postgres: unit tests (GoogleTest) and micro benchmarks.
CORE_CXXFLAGS = -std=c++17 -O3 -g -Wall -Wextra -Iinclude -pthread
BUILD = build
ifeq ($(SANITIZE),1)
CORE_CXXFLAGS += $(SANITIZER_FLAGS)
BUILD = build/sanitize
endif
$(BUILD)/core/distance_avx2.o:   ISA_FLAGS = $(ISA_FLAGS_avx2)
$(BUILD)/core/distance_avx512.o: ISA_FLAGS = $(ISA_FLAGS_avx512)
$(BUILD)/core/row_codes.o: ISA_FLAGS = $(ROW_CODES_FLAGS)
CORE_TEST_OBJS = $(patsubst src/core/%.cpp,$(BUILD)/core/%.o,$(CORE_SRCS))

$(BUILD)/core/%.o: src/core/%.cpp $(wildcard include/kyrodb/*.h) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	g++ $(CORE_CXXFLAGS) $(ISA_FLAGS) -c $< -o $@

$(BUILD)/unit_tests: $(CORE_TEST_OBJS) $(wildcard test/unit/*.cpp test/unit/*.h)
	g++ $(CORE_CXXFLAGS) $(wildcard test/unit/*.cpp) $(CORE_TEST_OBJS) -lgtest -lgtest_main -o $@

# A libpq client speaking pgvector's wire formats, run against a live server.
$(BUILD)/wire_tests: test/client/wire_test.cpp
	@mkdir -p $(@D)
	g++ $(CORE_CXXFLAGS) -I/usr/include/postgresql $< -lpq -lgtest -lgtest_main -o $@

# Preloaded with the ASan runtime into the server (see the file).
$(BUILD)/asan_shim.so: test/scripts/asan_shim.c
	@mkdir -p $(@D)
	gcc -shared -fPIC -O1 $< -o $@ -L$(dir $(shell gcc -print-file-name=libasan.so)) -lasan -ldl

# Test and benchmark data as COPY text (synthetic, IDX images, raw float32).
$(BUILD)/datagen: bench/datagen.cpp bench/driver_data.h $(CORE_TEST_OBJS)
	g++ $(CORE_CXXFLAGS) $< $(CORE_TEST_OBJS) -o $@

# The SQL-level benchmark driver (libpq), with hnswlib in-process as a baseline.
$(BUILD)/kyrodb_driver: bench/driver.cpp $(wildcard bench/driver*.h) $(CORE_TEST_OBJS)
	g++ $(CORE_CXXFLAGS) -march=native -I/usr/include/postgresql $< $(CORE_TEST_OBJS) -lpq -o $@

# The result cache's trace simulator: its policy against LRU, W-TinyLFU, Belady and the oracle.
$(BUILD)/kyrodb_cache_sim: bench/cache_sim.cpp $(CORE_TEST_OBJS)
	g++ $(CORE_CXXFLAGS) $< $(CORE_TEST_OBJS) -o $@

# hnswlib picks its SIMD at compile time, so the benchmark is built for this CPU.
$(BUILD)/kyrodb_bench: $(CORE_TEST_OBJS) $(wildcard bench/*.cpp)
	g++ $(CORE_CXXFLAGS) -march=native $(wildcard bench/*_bench.cpp) $(CORE_TEST_OBJS) -lbenchmark -lbenchmark_main -o $@

# ---------------------------------------------------------------------------
# libFuzzer targets (clang from Debian) over the parsers of untrusted bytes: vector text, binary
# receive and segment images. make fuzz runs each for FUZZ_SECONDS (test/scripts/fuzz.sh).
FUZZ_CXX = clang++-14
FUZZ_CXXFLAGS = -std=c++17 -O2 -g -Wall -Wextra -Iinclude \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 600

# The core sources a target reaches, with coverage instrumentation and the same sanitizers.
$(BUILD)/fuzz/core/%.o: src/core/%.cpp $(wildcard include/kyrodb/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link $(ISA_FLAGS) -c $< -o $@
$(BUILD)/fuzz/core/distance_avx2.o:   ISA_FLAGS = $(ISA_FLAGS_avx2)
$(BUILD)/fuzz/core/distance_avx512.o: ISA_FLAGS = $(ISA_FLAGS_avx512)

$(BUILD)/fuzz/vector_text_fuzz:   $(BUILD)/fuzz/core/vector_text.o
$(BUILD)/fuzz/vector_binary_fuzz: $(BUILD)/fuzz/core/vector_binary.o
$(BUILD)/fuzz/segment_fuzz: $(patsubst %,$(BUILD)/fuzz/core/%.o,segment hnsw_search metric distance \
                                                                  distance_avx2 distance_avx512)
$(BUILD)/fuzz/%_fuzz: test/fuzz/%_fuzz.cpp test/fuzz/fuzz_check.h $(wildcard include/kyrodb/*.h)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $< $(filter %.o,$^) -o $@

# The first corpus (make fuzz-seeds): vectors in both forms and images made by build_segment.
$(BUILD)/fuzz/seeds: test/fuzz/seeds.cpp $(CORE_TEST_OBJS)
	@mkdir -p $(@D)
	g++ $(CORE_CXXFLAGS) $< $(CORE_TEST_OBJS) -o $@

.PHONY: unit deps test demo stop bench soak fuzz fuzz-seeds
unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

deps:
	bash test/scripts/deps.sh

test:
	SANITIZE=$(SANITIZE) bash test/scripts/test.sh

demo:
	bash test/scripts/demo.sh

stop:
	bash test/scripts/demo.sh stop

bench:
	bash bench/run.sh

soak:
	bash test/scripts/soak.sh

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash test/scripts/fuzz.sh

fuzz-seeds: $(BUILD)/fuzz/seeds
	$< test/fuzz/corpus

EXTRA_CLEAN = build results regression.diffs regression.out tmp_check log $(FLAGS_STAMP)
