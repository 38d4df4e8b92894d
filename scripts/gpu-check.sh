#!/usr/bin/env bash
# The GPU check: one command for a machine with an NVIDIA GPU, within ~8 minutes.
#   1 build      an engine-only build (no gRPC, protobuf-c, libuv, SQLite) of `brnd train`,
#                the GPU tests and the benchmark, in build-gpu/, with the machine's nvcc;
#                cuDNN and cuBLAS from the toolkit or from Python's nvidia-* wheels; OpenBLAS,
#                jansson and zlib from the system, else from gpu-carry/debs (unpacked into
#                build-gpu/sysroot, never into /)
#   2 tests      tests/gpu: op-by-op parity with the CPU backend and cuDNN's batch norm,
#                whole training runs against the CPU references in gpu-carry/ref, replay,
#                checkpoints, out of memory; and `brnd train --device cuda|auto`
#   3 sanitizer  compute-sanitizer memcheck and racecheck on small shapes
#   4 bench      dev/cuda's bench_kernels --quick (our norm kernels' variants, validated,
#                then timed: kernels.jsonl), then bench/gpu_bench.sh: ours (fp32/tf32/bf16,
#                with and without the CUDA graph) beside PyTorch eager and torch.compile
# Writes summary.txt and the logs (7 files) to $OUT when set, else build-gpu/out/. Without a
# GPU it says, stage by stage, what it skipped, and exits 0. Exit 1 when a stage failed.
#
# Prepare on the development machine: `make gpu-carry` (fills the ignored gpu-carry/);
# then run with gpu-carry carried along: bash scripts/gpu-check.sh
# Env: BUDGET seconds for everything (470), JOBS (all cores), GPU_CHECK_DEPS=carried (use
#      gpu-carry/debs even where the system has the packages: to try that path anywhere).
set -u
cd "$(dirname "$0")/.."
T0=$SECONDS
BUDGET=${BUDGET:-470}
B=build-gpu
O=${OUT:-$B/out}
mkdir -p "$O" "$B"
SUM=$O/summary.txt
: >"$SUM"
JOBS=${JOBS:-$(nproc)}
failed=0 passed=0 skipped=0
say() { echo "$*" | tee -a "$SUM"; }
left() { echo $((BUDGET - (SECONDS - T0))); }
stage_pass() { passed=$((passed + 1)); say "[$1] PASS ($((SECONDS - T0))s) $2"; }
stage_fail() { failed=$((failed + 1)); say "[$1] FAIL ($((SECONDS - T0))s) $2"; }
stage_skip() { skipped=$((skipped + 1)); say "[$1] SKIPPED: $2"; }
cap() { local t; t=$(left); [ "$1" -lt "$t" ] && t=$1; [ "$t" -lt 1 ] && t=1; echo "$t"; }

say "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ), tree $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)'), budget ${BUDGET}s"

# ---- 0. the machine ------------------------------------------------------------------------
GPU=
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
    [ -n "$GPU" ] || GPU="(nvidia-smi lists a GPU)"
elif [ -e /dev/nvidia0 ]; then
    GPU="(a /dev/nvidia0 device)"
fi
say "GPU: ${GPU:-none found (nvidia-smi lists none, no /dev/nvidia0)}; $(nproc) cores"

# ---- 1. build ------------------------------------------------------------------------------
NVCC=$(command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
built=0
py_sites() {
    for py in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        "$py" -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null
    done | sort -u
}
# The directory of the first file named $1 under the toolkit, then Python's site-packages.
locate() {
    local d f
    for d in $SEARCH; do
        [ -d "$d" ] || continue
        f=$(find -L "$d" -maxdepth 7 -name "$1" -print -quit 2>/dev/null)
        [ -n "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}
deps_on_system() {
    [ "${GPU_CHECK_DEPS:-}" = carried ] && return 1
    printf '#include <cblas.h>\n#include <jansson.h>\n#include <zlib.h>\nint main(void){return 0;}\n' >"$B/deps.c"
    cc -o "$B/deps" "$B/deps.c" -lopenblas -ljansson -lz >/dev/null 2>&1
}
if [ -z "$NVCC" ]; then
    stage_skip build "no nvcc on this machine (the CUDA toolkit is needed); nothing else can run"
else
    CUDA_HOME=$(cd "$(dirname "$NVCC")/.." && pwd)
    SEARCH="$CUDA_HOME $(py_sites | sed 's|$|/nvidia|')"   # the nvidia-* wheels install under site-packages/nvidia
    cudnn_h=$(locate cudnn.h) cudnn_so=$(locate 'libcudnn.so.9') cublas_h=$(locate cublas_v2.h)
    cublas_so=$(locate 'libcublas.so.1[0-9]')
    why=
    [ -n "$cudnn_h" ] && [ -n "$cudnn_so" ] || why="cuDNN 9 not found (toolkit or the nvidia-cudnn-cu13 wheel)"
    [ -n "$cublas_h" ] && [ -n "$cublas_so" ] || why="${why:+$why; }cuBLAS not found (toolkit or the nvidia-cublas wheel)"
    DEP_CFLAGS= DEP_LDFLAGS=
    if [ -z "$why" ] && ! deps_on_system; then
        if ! ls gpu-carry/debs/*.deb >/dev/null 2>&1; then
            why="OpenBLAS/jansson/zlib are not installed and gpu-carry/debs is missing (run make gpu-carry where they are, and carry gpu-carry)"
        else
            SYS=$(pwd)/$B/sysroot
            rm -rf "$SYS" && mkdir -p "$SYS"
            for d in gpu-carry/debs/*.deb; do
                dpkg-deb -x "$d" "$SYS" 2>/dev/null || (ar p "$d" data.tar.xz | tar -xJ -C "$SYS") ||
                    why="cannot unpack $d"
            done
            L=$SYS/usr/lib/x86_64-linux-gnu
            # Debian's dev link points at its own libz: use this machine's
            zsys=$(ldconfig -p 2>/dev/null | awk '/libz\.so\.1 /{print $NF; exit}')
            [ -n "$zsys" ] && ln -sf "$zsys" "$L/libz.so"
            DEP_CFLAGS="-I$SYS/usr/include -I$SYS/usr/include/x86_64-linux-gnu/openblas-pthread"
            DEP_LDFLAGS="-L$L/openblas-pthread -L$L -Wl,-rpath,$L/openblas-pthread -Wl,-rpath,$L -Wl,-rpath-link,$L"
            say "build: OpenBLAS, jansson, zlib from gpu-carry/debs ($(ls gpu-carry/debs | wc -l) packages, unpacked in $B/sysroot)"
        fi
    fi
    if [ -n "$why" ]; then
        stage_fail build "$why"
    else
        inc_d=$(dirname "$cudnn_h") blas_d=$(dirname "$cublas_h") dnn_l=$(dirname "$cudnn_so") blas_l=$(dirname "$cublas_so")
        CUDA_INC="-I$inc_d"
        [ "$blas_d" != "$inc_d" ] && CUDA_INC="$CUDA_INC -I$blas_d"
        # DT_RPATH, not RUNPATH: it also finds the libraries' own needs (OpenBLAS's libgfortran, cuBLASLt)
        CUDA_LIBS="-Wl,--disable-new-dtags -L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -L$dnn_l -Wl,-rpath,$dnn_l"
        CUDA_LIBS="$CUDA_LIBS -L$blas_l -Wl,-rpath,$blas_l"
        CUDA_LIBS="$CUDA_LIBS -Wl,-rpath-link,$blas_l -l:$(basename "$cudnn_so") -l:$(basename "$cublas_so") -lcudart"
        say "build: nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), cuDNN $cudnn_so, cuBLAS $cublas_so"
        if timeout "$(cap 240)" make -j"$JOBS" BUILD="$B" ENGINE_ONLY=1 NVCC="$NVCC" CUDA_HOME="$CUDA_HOME" \
            CUDA_INC="$CUDA_INC" CUDA_LIBS="$CUDA_LIBS" LDFLAGS="$DEP_LDFLAGS" CFLAGS="-O3 -march=native -g $DEP_CFLAGS" \
            engine-only >"$O/build.log" 2>&1; then
            built=1
            # cuDNN opens its sub-libraries (libcudnn_cnn, ...) by name at run time
            export LD_LIBRARY_PATH="$dnn_l:$blas_l${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            stage_pass build "engine-only build in $B (make ENGINE_ONLY=1 engine-only; log build.log)"
        else
            stage_fail build "make engine-only failed or ran out of time; last lines of build.log:"
            tail -n 15 "$O/build.log" | sed 's/^/    /' | tee -a "$SUM"
        fi
    fi
fi

# ---- 2. tests --------------------------------------------------------------------------------
export BRN_GPU_REF=${BRN_GPU_REF:-gpu-carry/ref} OMP_WAIT_POLICY=passive
T=$O/tests.log
: >"$T"
run_test() { # name timeout-seconds [args...]
    local name=$1 t=$2 rc
    shift 2
    echo "===== $name $* =====" >>"$T"
    timeout "$(cap "$t")" "$B/tests/$name" "$@" >"$B/$name.log" 2>&1
    rc=$?
    cat "$B/$name.log" >>"$T"
    case $rc in
    0) say "  $name: PASS ($(grep -c '^  ok' "$B/$name.log") comparisons; $(tail -n 1 "$B/$name.log"))" ;;
    77) say "  $(tail -n 1 "$B/$name.log")" ;;
    124) say "  $name: TIMEOUT after ${t}s" ;;
    *) say "  $name: FAIL (exit $rc; $(tail -n 1 "$B/$name.log")); failing checks:"
       grep -E '^  FAIL|CHECK failed|failed:' "$B/$name.log" | head -n 40 | sed 's/^/    /' | tee -a "$SUM" ;;
    esac
    return $rc
}
if [ "$built" = 1 ]; then
    tfail=0
    [ -f "$BRN_GPU_REF/wrn-10-2-bn.txt" ] || say "  note: no CPU references in $BRN_GPU_REF: test_gpu_train runs the CPU itself"
    for t in "test_gpu_ops 120" "test_gpu_train 200"; do
        run_test $t
        case $? in 0 | 77) ;; *) tfail=1 ;; esac
    done
    grep -E '^  (ok|FAIL) ' "$B/test_gpu_train.log" 2>/dev/null | sed 's/^/  /' >>"$SUM"
    # the command a user runs
    if [ -n "$GPU" ]; then
        echo "===== brnd train --device cuda --precision bf16 =====" >>"$T"
        if timeout "$(cap 60)" "$B/engine-only/brnd" train --device cuda --precision bf16 --dataset synthetic --depth 10 \
            --width 2 --batch-size 64 --steps 64 --no-augment --log-steps 16 >>"$T" 2>&1; then
            say "  brnd train --device cuda --precision bf16: PASS ($(grep -m1 'WRN-' "$T" | sed 's/.*parameters, //'))"
        else
            tfail=1
            say "  brnd train --device cuda --precision bf16: FAIL ($(tail -n 1 "$T"))"
        fi
    else
        echo "===== brnd train --device cuda, --device auto (no GPU) =====" >>"$T"
        "$B/engine-only/brnd" train --device cuda --dataset synthetic --steps 1 >>"$T" 2>&1
        rc=$?
        msg=$(tail -n 1 "$T")
        if [ $rc = 69 ]; then say "  brnd train --device cuda: exit 69 (EX_UNAVAILABLE), as it should without a GPU: $msg"
        else tfail=1; say "  brnd train --device cuda without a GPU: FAIL, exit $rc: $msg"; fi
        if "$B/engine-only/brnd" train --device auto --dataset synthetic --steps 2 --depth 10 --width 1 \
            --batch-size 16 >>"$T" 2>&1; then say "  brnd train --device auto: ran on the CPU, as it should without a GPU"
        else tfail=1; say "  brnd train --device auto without a GPU: FAIL ($(tail -n 1 "$T"))"; fi
    fi
    if [ $tfail = 1 ]; then stage_fail tests "(log tests.log)"
    elif [ -z "$GPU" ]; then stage_skip tests "no GPU: the GPU tests reported SKIP; the checks that need none passed"
    else stage_pass tests "(log tests.log)"; fi
else
    stage_skip tests "nothing was built"
fi

# ---- 3. compute-sanitizer ---------------------------------------------------------------------
CS=$(command -v compute-sanitizer 2>/dev/null || ls "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" 2>/dev/null || true)
S=$O/sanitizer.log
if [ "$built" != 1 ]; then stage_skip sanitizer "nothing was built"
elif [ -z "$GPU" ]; then stage_skip sanitizer "no GPU"
elif [ -z "$CS" ]; then stage_skip sanitizer "compute-sanitizer not found"
elif [ "$(left)" -lt 150 ]; then stage_skip sanitizer "out of time ($(left)s left, kept for the benchmark)"
else
    : >"$S"
    src=0
    for run in "memcheck test_gpu_ops --small" "racecheck test_gpu_ops --small" "memcheck test_gpu_train --small"; do
        set -- $run
        t=$(cap 70)
        [ "$(left)" -lt 120 ] && { say "  $1 $2 $3: skipped (out of time)"; continue; }
        echo "===== compute-sanitizer --tool $1 $2 $3 =====" >>"$S"
        timeout "$t" "$CS" --tool "$1" --error-exitcode 9 "$B/tests/$2" "$3" 2>&1 | head -c 4000000 >>"$S"
        rc=${PIPESTATUS[0]}
        verdict=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|HAZARD SUMMARY' "$S" | tail -n 1)
        case $rc in
        0) say "  $1 $2 $3: clean (${verdict:-no summary line})" ;;
        124) say "  $1 $2 $3: stopped at ${t}s (no error seen before)" ;;
        9) src=1; say "  $1 $2 $3: ERRORS ($verdict)" ;;
        *) src=1; say "  $1 $2 $3: the test failed under the sanitizer (exit $rc)" ;;
        esac
    done
    if [ $src = 0 ]; then stage_pass sanitizer "(log sanitizer.log)"; else stage_fail sanitizer "(log sanitizer.log)"; fi
fi

# ---- 4. benchmark ----------------------------------------------------------------------------
if [ "$built" != 1 ]; then stage_skip bench "nothing was built"
elif [ -z "$GPU" ]; then stage_skip bench "no GPU"
elif [ "$(left)" -lt 40 ]; then stage_skip bench "out of time"
else
    echo "===== bench_kernels --quick =====" >"$O/bench.log"
    kernels_rc=0
    if [ -x "$B/bench_kernels" ] && [ "$(left)" -gt 150 ]; then
        timeout "$(cap 60)" "$B/bench_kernels" --quick --json "$O/kernels.jsonl" >>"$O/bench.log" 2>&1
        kernels_rc=$?
        say "  bench_kernels --quick: $([ $kernels_rc = 0 ] && echo done || echo "exit $kernels_rc") (kernels.jsonl; its table in bench.log)"
    else
        say "  bench_kernels: skipped ($([ -x "$B/bench_kernels" ] && echo "out of time" || echo "not built"))"
    fi
    BUILD=$B BUDGET=$(($(left) - 10)) BENCH_ERR=$O/bench.log bash bench/gpu_bench.sh "$O/bench.jsonl" 2>&1 |
        tee -a "$O/bench.log" | tee -a "$SUM"
    if [ "$kernels_rc" = 1 ]; then stage_fail bench "bench_kernels: a kernel variant failed its validation (bench.log)"
    elif grep -q '"impl":"brn-c"' "$O/bench.jsonl" 2>/dev/null; then stage_pass bench "(bench.jsonl, bench.log)"
    else stage_fail bench "no result from our benchmark (bench.log)"; fi
fi

say "gpu-check: $passed passed, $failed failed, $skipped skipped in $((SECONDS - T0))s; summary in $SUM"
[ "$failed" = 0 ]
