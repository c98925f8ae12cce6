# ifx_torch: `make demo` runs the main job, `make test` runs every test.
# Both install only what is missing (never a torch over an installed one), then build.
PYTHON     ?= python3
BUILD_DIR  ?= build/cmake
CMAKE_ARGS ?=
CMAKE_TARGETS ?=
export MAX_JOBS ?= $(shell nproc)
# On CI (CI=true) a missing GoogleTest is an error, not a skip.
REQUIRE_GTEST ?= $(if $(filter true,$(CI)),1,0)

.PHONY: all demo test deps build build-python build-cpp build-consumer test-cpp test-python test-sanitizers bench-micro clean

all: build

demo: deps build-python
	PYTHONPATH=python $(PYTHON) -m ifx_torch.demo

test: deps build test-cpp test-python

deps:
	@PYTHON=$(PYTHON) ./scripts/install_deps.sh

build: build-python build-cpp build-consumer

# The extension ifx_torch._C, built in place into python/ifx_torch (incremental).
# Users may instead run: pip install --no-build-isolation -e .
build-python:
	$(PYTHON) setup.py -q build_ext --inplace

build-cpp:
	@gtest=OFF; if [ -f /usr/include/gtest/gtest.h ] || [ -n "$(GTEST_ROOT)" ]; then gtest=ON; \
	elif [ "$(REQUIRE_GTEST)" = 1 ]; then echo "GoogleTest is required here but missing"; exit 1; \
	else echo "note: GoogleTest not found, the C++ tests will not be built"; fi; \
	generator=; command -v ninja >/dev/null && generator="-G Ninja"; \
	cmake -S . -B $(BUILD_DIR) $$generator -DIFX_BUILD_TESTS=$$gtest -DPython3_EXECUTABLE="$$(command -v $(PYTHON))" \
	  -DCMAKE_PREFIX_PATH="$$($(PYTHON) -c 'import torch; print(torch.utils.cmake_prefix_path)');$(GTEST_ROOT)" \
	  $(CMAKE_ARGS) >/dev/null && cmake --build $(BUILD_DIR) -j $(MAX_JOBS) $(if $(CMAKE_TARGETS),--target $(CMAKE_TARGETS))

# Installs the C++ package and builds a separate project against it (tests/cmake_consumer).
build-consumer: build-cpp
	cmake --install $(BUILD_DIR) --prefix build/install >/dev/null
	@generator=; command -v ninja >/dev/null && generator="-G Ninja"; \
	cmake -S tests/cmake_consumer -B build/consumer $$generator \
	  -DCMAKE_PREFIX_PATH="$$($(PYTHON) -c 'import torch; print(torch.utils.cmake_prefix_path)');$(CURDIR)/build/install" \
	  >/dev/null && cmake --build build/consumer

test-cpp:
	@if [ -x $(BUILD_DIR)/ifx_tests ]; then cd $(BUILD_DIR) && ctest --output-on-failure -j $(MAX_JOBS); \
	else echo "C++ tests skipped: GoogleTest was not available when building"; fi

test-python:
	IFX_RUN=$(BUILD_DIR)/ifx_run IFX_CONSUMER=build/consumer/ifx_consumer PYTHONPATH=python $(PYTHON) -m pytest -q

# The GoogleTests built with AddressSanitizer and UBSan in their own build
# directory (the vptr check is off: torch's libraries do not export the type
# info it needs). Leak checking is off: libtorch keeps its registries alive
# until exit by design. Impossible allocations return null, as malloc does
# without ASan: a test checks that one (a model running out of memory) reaches
# the caller as an exception.
SANITIZE = -O1 -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer
test-sanitizers: deps
	$(MAKE) build-cpp BUILD_DIR=build/sanitizers CMAKE_TARGETS=ifx_tests CMAKE_ARGS="-DCMAKE_BUILD_TYPE=None -DIFX_COMPILE_KERNELS=OFF \
	  -DCMAKE_CXX_FLAGS='$(SANITIZE)' -DCMAKE_EXE_LINKER_FLAGS='$(SANITIZE)' -DCMAKE_SHARED_LINKER_FLAGS='$(SANITIZE)'"
	cd build/sanitizers && ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./ifx_tests

bench-micro: deps build-python
	PYTHONPATH=python $(PYTHON) benchmarks/activation_micro.py

clean:
	rm -rf build python/ifx_torch/_C*.so
