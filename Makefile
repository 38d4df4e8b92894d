# brn — build: `make` (brnd, brnctl), `make test`, `make demo`, `make bench`.
# Sources are found by directory: add a .c file and it is built.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -fopenmp -pthread \
           -I. -Idaemon -Idaemon/engine -I$(BUILD)/gen
LDLIBS  := -lopenblas -ljansson -lz -lm
SVC_LIBS := -lgrpc -lgpr -lprotobuf-c -luv -lsqlite3

# CUDA: built when nvcc is found (compile-only on machines without a GPU).
NVCC    ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= /usr/local/cuda

ENGINE_SRC := $(wildcard daemon/engine/*.c daemon/engine/cpu/*.c daemon/engine/data/*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
# The CPU layers are also built in double precision for finite-difference gradient tests.
REAL_SRC := daemon/engine/cpu/conv.c daemon/engine/cpu/norm.c daemon/engine/cpu/basic.c daemon/engine/cpu/winograd.c
LAYERS_F64_OBJ := $(REAL_SRC:%.c=$(BUILD)/%_f64.o)

SVC_SRC := $(wildcard daemon/common/*.c daemon/rpc/*.c daemon/service/*.c daemon/scheduler/*.c daemon/store/*.c)
SVC_OBJ := $(SVC_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/store_migrations.o
# The schema (migrations/*.sql) is embedded into brnd as generated C.
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

PROTO_SRC := $(wildcard proto/brn/v1/*.proto proto/grpc/health/v1/*.proto)
PROTO_GEN_C := $(PROTO_SRC:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_GEN_H := $(PROTO_GEN_C:.c=.h)
PROTO_OBJ := $(PROTO_GEN_C:%.c=%.o)

CLIENT_SRC := $(filter-out client/brnctl.c,$(wildcard client/*.c))
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(BUILD)/%.o)

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

ifneq ($(NVCC),)
CUDA_SRC := $(wildcard daemon/engine/cuda/*.cu)
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/%.o)
endif

.PHONY: all test tests unit integration demo bench clean info cuda
all: info $(BUILD)/brnd $(BUILD)/brnctl

info:
	@echo "brn: building CPU engine (OpenBLAS GEMM), daemon and client"
ifneq ($(NVCC),)
	@echo "brn: nvcc found at $(NVCC): CUDA sources are compiled for sm_90 ($(words $(CUDA_SRC)) file(s))"
else
	@echo "brn: nvcc not found: CPU only"
endif

$(BUILD)/%.o: %.c | $(PROTO_GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/daemon/engine/cpu/%_f64.o: daemon/engine/cpu/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DBRN_REAL_DOUBLE -MMD -MP -c $< -o $@

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(CC) $(CFLAGS) -w -c $< -o $@

# Also depends on the directory, so adding or removing a file regenerates it.
$(BUILD)/gen/store_migrations.c: $(MIGRATIONS) migrations daemon/store/embed_migrations.sh
	@mkdir -p $(dir $@)
	sh daemon/store/embed_migrations.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/store_migrations.o: $(BUILD)/gen/store_migrations.c daemon/store/migrations.h
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/daemon/engine/cuda/%.o: daemon/engine/cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -arch=sm_90 -std=c++17 -Idaemon -Idaemon/engine -c $< -o $@

$(BUILD)/libbrn.a: $(ENGINE_OBJ) $(LAYERS_F64_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libbrnd.a: $(SVC_OBJ) $(PROTO_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libbrnctl.a: $(CLIENT_OBJ) $(PROTO_OBJ)
	rm -f $@ && ar rcs $@ $^

DAEMON_MAIN_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard daemon/*.c))
$(BUILD)/brnd: $(DAEMON_MAIN_OBJ) $(BUILD)/libbrnd.a $(BUILD)/libbrn.a
	$(CC) $(CFLAGS) -o $@ $^ $(SVC_LIBS) $(LDLIBS)

$(BUILD)/brnctl: $(BUILD)/client/brnctl.o $(BUILD)/libbrnctl.a $(BUILD)/libbrn.a
	$(CC) $(CFLAGS) -o $@ $^ $(SVC_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libbrnd.a $(BUILD)/libbrnctl.a $(BUILD)/libbrn.a tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libbrnd.a $(BUILD)/libbrnctl.a $(BUILD)/libbrn.a $(SVC_LIBS) $(LDLIBS)

cuda: $(CUDA_OBJ)

# The README's test command: installs missing Debian packages, builds, runs every test.
test:
	@scripts/install-deps.sh packages.txt packages-test.txt
	@$(MAKE) --no-print-directory all tests cuda
	@BUILD=$(BUILD) tests/run.sh

tests: $(TEST_BIN)

unit: $(TEST_BIN)
	@BUILD=$(BUILD) tests/run.sh unit

demo:
	@BUILD=$(BUILD) ./demo.sh

$(BUILD)/bench_train: bench/bench_train.c $(BUILD)/libbrn.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Engine training speed beside PyTorch's (same model, batch, threads); see bench/RESULTS.md.
bench: $(BUILD)/bench_train
	@BUILD=$(BUILD) bench/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
