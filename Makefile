# brn — build: `make` (brnd, brnctl), `make test`, `make demo`, `make bench`.
# Sources are found by directory: add a .c file and it is built.

# `make` alone builds `all`, whatever rule comes first below (a dependency-only rule did).
.DEFAULT_GOAL := all

CC      ?= cc
BUILD   ?= build
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -fopenmp -pthread \
           -I. -Idaemon -Idaemon/engine -I$(BUILD)/gen
LDLIBS  := -lopenblas -ljansson -lz -lm
LDFLAGS ?=
SVC_LIBS := -lgrpc -lgpr -lprotobuf-c -luv -lsqlite3

# CUDA: built when nvcc is found (BRN_CUDA=0 builds CPU only): the CUDA backend (cuDNN,
# cuBLAS) and our kernels for sm_80 and sm_90 plus PTX, warnings as errors; brnd then links
# cudart, cuDNN and cuBLAS and still starts, on the CPU, where no GPU is usable.
BRN_CUDA ?= 1
CUDA_HOME ?= /usr/local/cuda
NVCC    ?= $(shell command -v nvcc 2>/dev/null || ls $(CUDA_HOME)/bin/nvcc 2>/dev/null)
ifeq ($(BRN_CUDA),0)
NVCC    :=
endif
CUDA_ARCH := -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
             -gencode arch=compute_90,code=compute_90
# CUDA_INC: where cudnn.h / cublas_v2.h are when not in $(CUDA_HOME)/include (Python wheels)
CUDA_INC ?=
NVCC_FLAGS := -O3 -std=c++17 $(CUDA_ARCH) -Werror all-warnings \
              -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter -I. -Idaemon -Idaemon/engine $(CUDA_INC)

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

# The protobuf field codec brnd and brnctl share (codec/pb_field.h).
CODEC_SRC := $(wildcard codec/*.c)
CODEC_OBJ := $(CODEC_SRC:%.c=$(BUILD)/%.o)

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Our kernels (cuda/kernels/*.cu) are also compiled as host C++ under the CUDA execution
# model emulation (cuda/emu/), so that the tests run them on every machine.
KERNEL_SRC := $(wildcard daemon/engine/cuda/kernels/*.cu)
CUDA_SRC := $(wildcard daemon/engine/cuda/*.cu) $(KERNEL_SRC)
EMU_SRC := $(wildcard daemon/engine/cuda/emu/*.cc)
# kernels that test the emulation itself (host only)
EMU_TEST_SRC := $(wildcard tests/unit/*.cu)
EMU_OBJ := $(KERNEL_SRC:%.cu=$(BUILD)/emu/%.o) $(EMU_SRC:%.cc=$(BUILD)/emu/%.o) $(EMU_TEST_SRC:%.cu=$(BUILD)/emu/%.o)
CXX     ?= g++
EMU_FLAGS := -std=gnu++17 -O1 -g -Wall -Wextra -Wno-unused-parameter -Werror -fopenmp -pthread \
             -I. -Idaemon -Idaemon/engine -DBRN_CUDA_EMU $(EMU_EXTRA)
ifneq ($(NVCC),)
CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/cuda/%.o)
ifneq ($(wildcard daemon/engine/cuda/backend_cuda.cu),)
override CFLAGS += -DBRN_HAVE_CUDA
CUDA_LIBS ?= -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart
override CUDA_LIBS += -lstdc++
# C code that calls cuDNN itself (the GPU tests' second oracle)
CUDA_CFLAGS := -I$(CUDA_HOME)/include $(CUDA_INC)
endif
endif

# backend.c's CUDA branch follows backend_cuda.cu's arrival
$(BUILD)/daemon/engine/backend.o: $(wildcard daemon/engine/cuda/backend_cuda.cu)

# GPU tests (tests/gpu/): built with the others and run by `make test`, where they report
# SKIP without a usable GPU; `make test-gpu` runs only them. They need only the engine.
GPU_TEST_SRC := $(wildcard tests/gpu/test_*.c)
GPU_TEST_BIN := $(GPU_TEST_SRC:tests/gpu/%.c=$(BUILD)/tests/%)
# ENGINE_ONLY=1: build without the service's tools (protoc-c, gRPC): for machines that have
# only the toolkit (scripts/gpu-check.sh); targets: engine-only.
ENGINE_ONLY ?= 0
PROTO_ORDER := $(if $(filter 1,$(ENGINE_ONLY)),,$(PROTO_GEN_H))

.PHONY: all test tests unit integration demo bench clean info cuda asan check fuzz fuzz-targets test-gpu \
        engine-only gpu-carry
all: info $(BUILD)/brnd $(BUILD)/brnctl

info:
	@echo "brn: building CPU engine (OpenBLAS GEMM), daemon and client"
ifneq ($(NVCC),)
	@echo "brn: nvcc found at $(NVCC): the CUDA backend is built for sm_80, sm_90 (+PTX) ($(words $(CUDA_SRC)) file(s)); brnd links cudart, cuDNN, cuBLAS"
else
	@echo "brn: nvcc not found (or BRN_CUDA=0): CPU only; the kernels are still built for their host emulation"
endif

$(BUILD)/%.o: %.c | $(PROTO_ORDER)
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

$(BUILD)/cuda/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/emu/%.o: %.cu
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -MMD -MP -x c++ -c $< -o $@

$(BUILD)/emu/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libbrn.a: $(ENGINE_OBJ) $(LAYERS_F64_OBJ) $(CUDA_OBJ)
	rm -f $@ && ar rcs $@ $^

# The kernels as host code, for the tests only (their launchers are brn_kemu_*).
$(BUILD)/libbrn_emu.a: $(EMU_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libbrnd.a: $(SVC_OBJ) $(PROTO_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libbrnctl.a: $(CLIENT_OBJ) $(PROTO_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libbrncodec.a: $(CODEC_OBJ)
	rm -f $@ && ar rcs $@ $^

DAEMON_MAIN_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard daemon/*.c))
$(BUILD)/brnd: $(DAEMON_MAIN_OBJ) $(BUILD)/libbrnd.a $(BUILD)/libbrncodec.a $(BUILD)/libbrn.a
	$(CC) $(CFLAGS) -o $@ $^ $(SVC_LIBS) $(LDLIBS) $(CUDA_LIBS)

$(BUILD)/brnctl: $(BUILD)/client/brnctl.o $(BUILD)/libbrnctl.a $(BUILD)/libbrncodec.a $(BUILD)/libbrn.a
	$(CC) $(CFLAGS) -o $@ $^ $(SVC_LIBS) $(LDLIBS) $(CUDA_LIBS)

# `brnd train` and `brnd version` without the daemon (no gRPC, protobuf-c, libuv, SQLite).
$(BUILD)/engine-only/brnd: daemon/main.c daemon/train_cmd.c $(BUILD)/libbrn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DBRN_ENGINE_ONLY -o $@ daemon/main.c daemon/train_cmd.c $(BUILD)/libbrn.a $(LDFLAGS) \
	    $(LDLIBS) $(CUDA_LIBS)

$(BUILD)/tests/test_gpu_%: tests/gpu/test_gpu_%.c tests/gpu/gpu_fixture.h $(BUILD)/libbrn.a tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CUDA_CFLAGS) -Itests/unit -Itests/gpu -o $@ $< $(BUILD)/libbrn.a $(LDFLAGS) $(LDLIBS) \
	    $(CUDA_LIBS)

# What a GPU machine builds (scripts/gpu-check.sh): the engine, `brnd train`, the GPU
# tests, the training benchmark and the kernel benchmark (dev/cuda), with ENGINE_ONLY=1.
engine-only: $(BUILD)/engine-only/brnd $(GPU_TEST_BIN) $(BUILD)/bench_train $(if $(NVCC),$(BUILD)/bench_kernels)

# The GPU tests alone; SKIP (exit 77) without a usable GPU.
test-gpu: $(GPU_TEST_BIN)
	@BUILD=$(BUILD) tests/run.sh gpu

# What scripts/gpu-check.sh needs besides the tree, in gpu-carry/ (ignored, carried to the
# GPU machine): Debian's OpenBLAS, jansson and zlib headers/libraries, and the CPU
# reference runs the GPU runs are compared with, made here by the CPU engine.
gpu-carry: $(GPU_TEST_BIN)
	@scripts/gpu-carry.sh $(BUILD)

TEST_LIBS := $(BUILD)/libbrnd.a $(BUILD)/libbrnctl.a $(BUILD)/libbrncodec.a $(BUILD)/libbrn.a $(BUILD)/libbrn_emu.a
$(BUILD)/tests/%: tests/unit/%.c $(TEST_LIBS) tests/unit/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(TEST_LIBS) $(SVC_LIBS) $(LDLIBS) $(CUDA_LIBS) -lstdc++

cuda: $(CUDA_OBJ) $(if $(NVCC),$(BUILD)/bench_kernels)

# The norm kernel benchmark (dev/cuda/): every variant validated against a reference, then
# timed on WRN shapes; nvcc-built for a GPU (scripts/gpu-check.sh), and its emulated twin,
# which validates the same variants on small shapes in `make test`.
KERNEL_CUDA_OBJ := $(KERNEL_SRC:%.cu=$(BUILD)/cuda/%.o)
BENCH_KERNELS_DEPS := dev/cuda/bench_kernels.cu $(wildcard dev/cuda/*.cuh daemon/engine/cuda/kernels/*.cuh)
$(BUILD)/bench_kernels: $(BENCH_KERNELS_DEPS) $(KERNEL_CUDA_OBJ)
	$(NVCC) $(NVCC_FLAGS) -Idev/cuda -o $@ dev/cuda/bench_kernels.cu $(KERNEL_CUDA_OBJ)

$(BUILD)/emu/bench_kernels: $(BENCH_KERNELS_DEPS) $(BUILD)/libbrn_emu.a
	$(CXX) $(EMU_FLAGS) -Idev/cuda -x c++ -o $@ dev/cuda/bench_kernels.cu -x none $(BUILD)/libbrn_emu.a

# The README's test command: installs missing Debian packages, builds, runs every test.
test:
	@scripts/install-deps.sh packages.txt packages-test.txt
	@$(MAKE) --no-print-directory all tests cuda
	@BUILD=$(BUILD) tests/run.sh

tests: $(TEST_BIN) $(GPU_TEST_BIN) $(BUILD)/emu/bench_kernels

# The CUDA kernel tests (emulated kernels and the emulation itself) and the kernel benchmark's
# emulated validation again under AddressSanitizer and UBSan, in a build directory of their
# own: `make asan`; other tests with
# `make asan ASAN_TESTS="test_cuda_norm test_gradcheck"`.
ASAN_BUILD ?= $(BUILD)/asan
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_TESTS ?= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_cuda_*.c))
asan:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) BRN_CUDA=0 CFLAGS="$(ASAN_FLAGS)" EMU_EXTRA="$(ASAN_FLAGS)" \
	    $(ASAN_TESTS:%=$(ASAN_BUILD)/tests/%) $(ASAN_BUILD)/emu/bench_kernels
	@fail=0; for t in $(ASAN_TESTS:%=tests/%) emu/bench_kernels; do \
	    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 OMP_WAIT_POLICY=passive $(ASAN_BUILD)/$$t \
	        >$(ASAN_BUILD)/$$(basename $$t).log 2>&1; then echo "PASS $$t (asan+ubsan)"; \
	    else fail=1; echo "FAIL $$t (asan+ubsan): $(ASAN_BUILD)/$$(basename $$t).log"; \
	        tail -n 30 $(ASAN_BUILD)/$$(basename $$t).log; fi; \
	done; exit $$fail

# Fuzzing: libFuzzer targets (tests/fuzz/fuzz_*.c) built by Debian's clang with ASan and
# UBSan into $(FUZZ_BUILD); `make check` runs `make test`, then each target for
# FUZZ_SECONDS over its seed corpus (tests/fuzz/corpus/<target>/). docs/security.md says how
# to run them longer.
FUZZ_BUILD ?= $(BUILD)/fuzz
FUZZ_CC ?= clang-14
FUZZ_SECONDS ?= 6
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wno-pass-failed
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIBS := $(BUILD)/daemon/serve.o $(BUILD)/libbrnd.a $(BUILD)/libbrncodec.a $(BUILD)/libbrn.a

check: test
	@$(MAKE) --no-print-directory fuzz
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) BRN_CUDA=0 \
	    CFLAGS="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-targets

fuzz-targets: $(FUZZ_TARGETS:%=$(BUILD)/%)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIBS)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIBS) $(SVC_LIBS) $(LDLIBS)

unit: $(TEST_BIN) $(GPU_TEST_BIN)
	@BUILD=$(BUILD) tests/run.sh unit

demo:
	@BUILD=$(BUILD) ./demo.sh

$(BUILD)/bench_train: bench/bench_train.c $(BUILD)/libbrn.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) $(CUDA_LIBS)

# Engine training speed beside PyTorch's (same model, batch, threads); see bench/RESULTS.md.
bench: $(BUILD)/bench_train
	@BUILD=$(BUILD) bench/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
