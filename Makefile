# SPDX-License-Identifier: Apache-2.0
# The two commands (README.md): `make run` and `make test`. Everything else is a
# convenience around CMake presets.
.PHONY: run test build-release build-test bench format format-check fuzz tidy clean deps

JOBS ?= $(shell nproc)

deps:
	@scripts/install-deps

build-release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target ternd tern

# Installs, builds a release ternd and tern, prepares ./var on first run (config,
# certificate, demo domain and user) and serves in the foreground until Ctrl-C.
run: build-release
	@scripts/run-demo build/release

build-test: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

# Installs, builds the ASan+UBSan test build and runs every test.
test: build-test
	@ctest --preset asan

bench: deps
	@cmake --preset release -DTERN_BUILD_TESTS=OFF >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@scripts/run-bench build/release

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

# clang-tidy with .clang-tidy over src/ (tools/tidy.py): about 30 minutes on 2 cores,
# so not part of `make test`.
tidy: deps
	@cmake --preset asan >/dev/null
	@tools/tidy.py --build build/asan

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

clean:
	rm -rf build
