# maskdet - build, test and benchmark.
#
#   make                  library + programs into build/ (build/maskdet)
#   make test             build and run the Check suites (SUITE=name runs one suite)
#   make test SANITIZE=1  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench            build and run the benchmarks (build/bench)
#   make DEBUG=1          -O0 build
#   make demo             the main job: detect faces and masks in the sample photos
#   make deps             install the Debian packages we need (root or sudo)
#
# Sources are found by wildcard: a new nn/foo.c or tests/test_foo.c needs no
# edit here. Files named *_avx2.c / *_avx512.c get their ISA's flags only, so
# one binary runs on any x86-64 and picks kernels at run time.

CC      ?= cc
SANITIZE ?= 0
DEBUG   ?= 0

ifeq ($(SANITIZE),1)
  BUILD   ?= build-san
  OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN    = -fsanitize=address,undefined
else ifeq ($(DEBUG),1)
  BUILD   ?= build-debug
  OPT      = -O0 -g
else
  BUILD   ?= build
  OPT      = -O2 -g
endif

PKGS     = libcjson check
CJSON_CFLAGS := $(shell pkg-config --cflags libcjson 2>/dev/null)
CJSON_LIBS   := $(shell pkg-config --libs libcjson 2>/dev/null || echo -lcjson)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

WARN     = -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wvla
CFLAGS  += -std=gnu11 $(OPT) $(WARN) -pthread -I. -Inn -Ivision -Idatasets -Iapps/lib -I/usr/include/stb $(CJSON_CFLAGS)
LDLIBS   = $(CJSON_LIBS) -lstb -lm -pthread
AVX2_FLAGS   = -mavx2 -mfma
AVX512_FLAGS = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2

NN_SRC       := $(wildcard nn/*.c)
VISION_SRC   := $(wildcard vision/*.c)
DATASETS_SRC := $(wildcard datasets/*.c)
APP_SRC      := $(wildcard apps/*.c)
APILIB_SRC   := $(wildcard apps/lib/*.c)
TEST_SRC     := $(wildcard tests/*.c)
TEST_SRC     += apps/train_common.c  # tested directly by tests/test_train_common.c
TEST_SRC     += apps/lib/maskdet.c apps/lib/bundled.c  # the embedding API, tests/test_maskdet_api.c
TEST_SRC     += apps/det_data.c      # tested directly by tests/test_eval.c
TEST_SUITES  := $(patsubst tests/test_%.c,%,$(wildcard tests/test_*.c))
BENCH_SRC    := $(wildcard benchmarks/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBNN       = $(BUILD)/libnn.a
LIBVISION   = $(BUILD)/libvision.a
LIBDATASETS = $(BUILD)/libdatasets.a
LIBS_ALL    = $(LIBDATASETS) $(LIBVISION) $(LIBNN)

.PHONY: all test run-tests deps deps-check demo bench clean fuzz examples train-classifier train-detector
.SECONDARY:
all: $(BUILD)/maskdet

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -MMD -MP -c $< -o $@

# Op files whose loops are written for the auto-vectorizer (see nn/vec.h).
VEC_SRC = nn/activation.c nn/batchnorm.c nn/dropout.c nn/elementwise.c nn/linear.c nn/loss.c \
          nn/pool.c nn/shape.c nn/softmax.c nn/vec.c
$(call obj,$(VEC_SRC)): OPT += -O3
# NMS tests a box against all kept ones in such a loop (vision/ssd.c); its
# comparisons vectorize only when they may not raise FP exceptions, which we
# never read.
$(call obj,vision/ssd.c): OPT += -O3 -fno-trapping-math

# Libraries are linked with --whole-archive-free ordering: datasets, vision, nn.
$(LIBNN): $(call obj,$(NN_SRC))
$(LIBVISION): $(call obj,$(VISION_SRC))
$(LIBDATASETS): $(call obj,$(DATASETS_SRC))
# The embedding library (apps/lib/maskdet.h): the pipeline plus nn/ and vision/
# in one archive, so a program links -lmaskdet alone (and the system libs).
LIBMASKDET  = $(BUILD)/libmaskdet.a
$(LIBMASKDET): $(call obj,$(APILIB_SRC) $(VISION_SRC) $(NN_SRC))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	$(if $^,ar rcs $@ $^,ar rcs $@)

$(BUILD)/maskdet: $(call obj,$(APP_SRC)) $(LIBMASKDET) $(LIBS_ALL)
	$(CC) $(LDSAN) -o $@ $(call obj,$(APP_SRC)) $(LIBDATASETS) $(LIBMASKDET) $(LDLIBS)

# ---- tests: every tests/test_NAME.c defines `Suite *NAME_suite(void)`.
# Rebuilt every time (FORCE) but only replaced when the list changes, so a
# deleted test file drops out of the list too.
$(BUILD)/tests/suites.inc: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(foreach s,$(TEST_SUITES),'SUITE($(s))') > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(BUILD)/obj/tests/main.o: $(BUILD)/tests/suites.inc
$(BUILD)/obj/tests/main.o: CFLAGS += -I$(BUILD)/tests
$(BUILD)/obj/tests/%.o: CFLAGS += $(CHECK_CFLAGS) -Itests

$(BUILD)/run_tests: $(call obj,$(TEST_SRC)) $(LIBS_ALL)
	$(CC) $(LDSAN) -o $@ $(call obj,$(TEST_SRC)) $(LIBS_ALL) $(CHECK_LIBS) $(LDLIBS)

# nn/examples/*.c: small programs that use only the public API (the README's
# example is one); `make test` builds and runs each, before the suites.
EXAMPLES := $(patsubst nn/examples/%.c,$(BUILD)/examples/%,$(wildcard nn/examples/*.c))
$(BUILD)/examples/%: $(BUILD)/obj/nn/examples/%.o $(LIBNN)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $< $(LIBNN) $(LDLIBS)

examples: $(EXAMPLES)

# ---- the shipped models, reproduced from ../shared (slow: not part of test)
# The two classifiers learn a background class from the bundled detector's
# boxes (models/train-classifier.sh): after a new detector, retrain them too.
train-classifier models/classifier.nnw models/classifier_b.nnw: $(BUILD)/maskdet
	sh models/train-classifier.sh $(BUILD)/maskdet
DETECTOR_DATA ?= ../shared/datasets/facemask_detection_andrewmvd
train-detector models/face_detector.nnw: | $(BUILD)/maskdet
	$(BUILD)/maskdet train-detector --data $(DETECTOR_DATA) --out $(BUILD)/face_ssd_run \
	    --epochs 60 --batch 16 --size 384 --match-iou 0.35 --keep-aspect --eval-every 5 --threads 2 --seed 1 \
	    --input-long-side 640 --threshold 0.7 --export models/face_detector.nnw

test: deps-check
	@$(MAKE) --no-print-directory run-tests

# Installs missing packages first only when a header or library is missing.
deps-check:
	@pkg-config --exists check libcjson 2>/dev/null && [ -f /usr/include/stb/stb_image.h ] || bash .ci/install-deps

run-tests: $(BUILD)/run_tests $(BUILD)/maskdet $(EXAMPLES)
ifeq ($(SUITE),)
	@for e in $(EXAMPLES); do echo "example: $$e"; $$e || exit 1; done
endif
	cd tests && ../$(BUILD)/run_tests $(SUITE)

# ---- benchmarks
$(BUILD)/bench: $(call obj,$(BENCH_SRC)) $(LIBS_ALL)
	$(CC) $(LDSAN) -o $@ $(call obj,$(BENCH_SRC)) $(LIBS_ALL) $(LDLIBS) -ldl

# Each benchmarks/NAME/ folder is one more program, build/bench_NAME.
define bench_program
$(BUILD)/bench_$(1): $(call obj,$(wildcard benchmarks/$(1)/*.c)) $(LIBMASKDET) $(LIBS_ALL)
	$$(CC) $$(LDSAN) -o $$@ $(call obj,$(wildcard benchmarks/$(1)/*.c)) $(LIBMASKDET) $(LIBS_ALL) $$(LDLIBS)
endef
BENCH_DIRS  := $(sort $(patsubst benchmarks/%/,%,$(dir $(wildcard benchmarks/*/*.c))))
BENCH_PROGS := $(foreach d,$(BENCH_DIRS),$(BUILD)/bench_$(d))
$(foreach d,$(BENCH_DIRS),$(eval $(call bench_program,$(d))))

bench: $(BUILD)/bench $(BENCH_PROGS)
	$(BUILD)/bench
	@for p in $(BENCH_PROGS); do echo "== $$p"; $$p || exit 1; done

deps:
	@bash .ci/install-deps

# The main job on the bundled models: faces and masks in the sample photos of
# ../shared (or DEMO_IMAGES=...), annotated copies in $(BUILD)/demo/.
DEMO_IMAGES ?= $(wildcard ../shared/samples/*.jpg)
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/maskdet
	@if [ -z "$(DEMO_IMAGES)" ]; then \
	    echo "demo: no images (../shared/samples is absent); run: make demo DEMO_IMAGES='a.jpg b.jpg'"; \
	    exit 2; fi
	$(BUILD)/maskdet detect -o $(BUILD)/demo $(DEMO_IMAGES)
	@echo "annotated images written to $(BUILD)/demo/"

clean:
	rm -rf build build-san build-debug

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- fuzzing (tests/fuzz/README.md): libFuzzer harnesses, built with clang.
#   make fuzz                  build-fuzz/fuzz_<target> for every target
#   make fuzz-run SECONDS=N    run each for N seconds (FUZZ_JOBS at a time),
#                              print executions / edges / crashes per target
#   make fuzz-seeds            regenerate tests/fuzz/seeds (build/make_seeds)
# The project's sources are compiled with clang -fsanitize=fuzzer-no-link,
# address,undefined into build-fuzz/ by a sub-make of the rules above.
FUZZ_CC      ?= clang
FUZZ_BUILD    = build-fuzz
FUZZ_TARGETS  = weights prototxt caffemodel protobuf xml voc json image rawvideo
FUZZ_OPT      = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
SECONDS      ?= 60
FUZZ_JOBS    ?= 1
.PHONY: fuzz fuzz-run fuzz-seeds fuzz-clean fuzz-check-cc fuzz-binaries

fuzz: fuzz-check-cc
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT='$(FUZZ_OPT)' LDSAN= fuzz-binaries

fuzz-check-cc:
	@mkdir -p $(FUZZ_BUILD)
	@printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' > $(FUZZ_BUILD)/probe.c
	@$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $(FUZZ_BUILD)/probe.c -o $(FUZZ_BUILD)/probe 2>/dev/null || \
	  { echo "make fuzz: '$(FUZZ_CC) -fsanitize=fuzzer,address,undefined' does not link."; \
	    echo "  Install clang and its fuzzer runtime (Debian 12: apt-get install clang libclang-rt-14-dev)"; \
	    echo "  or point FUZZ_CC at a clang that has it."; exit 1; }
	@rm -f $(FUZZ_BUILD)/probe $(FUZZ_BUILD)/probe.c

fuzz-binaries: $(foreach t,$(FUZZ_TARGETS),$(BUILD)/fuzz_$(t))

# stb is compiled in (instrumented for coverage and ASan) rather than taken from
# the prebuilt -lstb. Not for UBSan: stb's shifts of signed ints are everywhere
# and not ours to fix; its memory errors are what matter and ASan sees those.
$(BUILD)/obj/tests/fuzz/stb_impl.o: CFLAGS += -w -fno-sanitize=undefined
$(BUILD)/fuzz_%: tests/fuzz/harness.c $(BUILD)/obj/tests/fuzz_targets.o $(BUILD)/obj/tests/fuzz/stb_impl.o $(LIBS_ALL)
	$(CC) $(CFLAGS) -Itests -DFUZZ_ENTRY=fuzz_$* -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz-run: fuzz
	FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh $(SECONDS) $(FUZZ_TARGETS)

$(BUILD)/make_seeds: $(BUILD)/obj/tests/fuzz/make_seeds.o $(BUILD)/obj/tests/fuzz_targets.o $(LIBS_ALL)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

fuzz-seeds: $(BUILD)/make_seeds
	rm -rf tests/fuzz/seeds
	$(BUILD)/make_seeds tests/fuzz/seeds

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

# ---- apps/examples/*.c: programs that use only apps/lib/maskdet.h, linked
# against libmaskdet.a as an embedder would; `make test` runs each (no argument).
# The test program counts the heap allocations of maskdet_detect (--wrap).
API_EXAMPLES := $(patsubst apps/examples/%.c,$(BUILD)/examples/%,$(wildcard apps/examples/*.c))
$(API_EXAMPLES): $(BUILD)/examples/%: $(BUILD)/obj/apps/examples/%.o $(LIBMASKDET)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $< $(LIBMASKDET) $(LDLIBS)
EXAMPLES += $(API_EXAMPLES)
run-tests examples: $(API_EXAMPLES)
$(BUILD)/run_tests: LDSAN += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=posix_memalign

# ---- valgrind (tests/valgrind.sh; minutes, not part of test or CI): maskdet
# built without sanitizers at -O1 -g into build-vg/, its detect, classify,
# train, eval and import paths run under memcheck on the data in ../shared.
.PHONY: valgrind clean-valgrind
valgrind:
	$(MAKE) --no-print-directory BUILD=build-vg OPT='-O1 -g' SANITIZE=0 build-vg/maskdet
	tests/valgrind.sh build-vg/maskdet $(or $(SHARED),../shared)
clean: clean-valgrind
clean-valgrind:
	rm -rf build-vg
# make_seeds writes protobuf seeds with the test protobuf writer.
$(BUILD)/make_seeds: $(BUILD)/obj/tests/pbwriter.o

.PHONY: FORCE
FORCE:
