# l4lb build and test entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := build
NODE ?= node
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: deps deps-npm deps-system build test test-unit test-kernel bench demo clean

# npm packages from the lock file; Debian packages for the kernel suite.
deps: deps-npm deps-system

deps-npm: node_modules/.l4lb-installed

node_modules/.l4lb-installed: package.json package-lock.json
	@echo "==> installing npm packages (npm ci)"
	npm ci --no-audit --no-fund
	@touch $@

deps-system:
	@bash scripts/install-deps.sh

build: deps-npm
	@echo "==> compiling TypeScript"
	tsc -p tsconfig.json
	@echo "==> bundling the CLI for bin/l4lb (dist/bundle/l4lb.mjs: one file starts faster)"
	$(NODE) scripts/bundle.mjs

# Unit tests, then the kernel suite; one summary line at the end.
test: deps build
	@bash scripts/test.sh all

test-unit: build
	@bash scripts/test.sh unit

test-kernel: deps build
	@bash scripts/test.sh kernel

bench: deps build
	@$(NODE) dist/bench/run.js

demo: deps build
	@$(NODE) dist/test/demo/demo.js

clean:
	rm -rf dist .run
