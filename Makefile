# The two commands a new user runs: `make serve` and `make test`. Both install what is missing
# (a Python virtual environment in .venv with ONNX Runtime and the test clients, the Rust
# components clippy and rustfmt), build, and then serve or test.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
CARGO ?= cargo
MVN ?= mvn
MODELS := examples/models
HTTP_PORT ?= 8080
GRPC_PORT ?= 8081

.PHONY: serve test build models lint rust-test e2e-test python-develop python-test java-test r-deps r-install r-lint r-test r-tarball r-check clean toolchain bench

serve: $(VENV)/.serve-deps models toolchain
	$(CARGO) build --release --bin oxserve
	./target/release/oxserve serve --model-repository $(MODELS) --default-model iris \
		--http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT)

test: $(VENV)/.test-deps toolchain lint rust-test e2e-test python-test java-test r-lint r-test r-check

# oxserve and its Python, Java and R bindings against MLServer, KServe, Triton and Seldon's wrapper,
# plus the JNI crossing and graph hops; writes bench/RESULTS.md (~40 min; BENCH_QUICK=1 for short
# runs). bench/run.py installs and builds what the peers need (see bench/README.md).
bench: $(VENV)/.serve-deps toolchain
	$(PYTHON) bench/run.py

build: toolchain
	$(CARGO) build --release --bin oxserve

# The example model repository, written by scripts of the project (nothing is downloaded); the
# graphs in examples/graphs use its models too.
models: $(MODELS)/.made
$(MODELS)/.made: examples/make_models.py examples/graphs/make_graph_models.py $(VENV)/.serve-deps
	$(VPY) examples/make_models.py $(MODELS)
	$(VPY) examples/graphs/make_graph_models.py $(MODELS)
	touch $@

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

$(VENV)/.serve-deps: examples/requirements.txt | $(VENV)/bin/python
	$(VPY) -m pip install --quiet -r examples/requirements.txt
	touch $@

$(VENV)/.test-deps: tests/requirements.txt $(VENV)/.serve-deps
	$(VPY) -m pip install --quiet -r tests/requirements.txt
	touch $@

# The Python package's tests also train scikit-learn models and build the package with maturin.
$(VENV)/.python-deps: python/tests/requirements.txt $(VENV)/.test-deps
	$(VPY) -m pip install --quiet -r python/tests/requirements.txt
	touch $@

toolchain:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

lint: $(VENV)/.test-deps toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff format --check examples tests bench python
	$(VENV)/bin/ruff check examples tests bench python

# The ONNX runtime tests write their models with examples/make_models.py from the venv.
rust-test: $(VENV)/.serve-deps toolchain
	OXSERVE_PYTHON=$(abspath $(VPY)) $(CARGO) test --workspace

# End-to-end: the real binary on loopback ports, real clients (tritonclient, grpcio, requests).
# The Python package is installed first: `oxserve run` hands graphs with Python units to it.
e2e-test: $(VENV)/.test-deps toolchain python-develop
	$(CARGO) build --bin oxserve
	OXSERVE_BIN=$(abspath target/debug/oxserve) $(VPY) -m pytest -q tests/e2e

# The `oxserve` Python package (python/, with the extension from bindings/python), built in debug
# mode and installed into .venv in place, so that edits to python/src take effect without a rebuild.
python-develop: $(VENV)/.python-deps toolchain
	cd python && VIRTUAL_ENV=$(abspath $(VENV)) $(abspath $(VENV))/bin/maturin develop --quiet

# Seldon Core's own client (SeldonClient) for the Seldon tests, in a virtualenv of its own: the
# seldon-core package pins numpy 1.x and protobuf 3.
SELDON_CLIENT_VENV := .venv-seldon-client
$(SELDON_CLIENT_VENV)/.deps: python/tests/seldon-client-requirements.txt
	$(PYTHON) -m venv $(SELDON_CLIENT_VENV)
	$(SELDON_CLIENT_VENV)/bin/python -m pip install --quiet -r python/tests/seldon-client-requirements.txt
	touch $@

# The three user contracts (Seldon, KServe, typed) served from Python, driven by real clients
# (SeldonClient among them); and `oxserve serve` (the debug binary) handing a repository of
# prepackaged Python servers to the package.
python-test: python-develop $(SELDON_CLIENT_VENV)/.deps
	$(CARGO) build --bin oxserve
	cd python/tests && OXSERVE_BIN=$(abspath target/debug/oxserve) \
		OXSERVE_SELDON_CLIENT_PYTHON=$(abspath $(SELDON_CLIENT_VENV))/bin/python $(abspath $(VPY)) -m pytest -q

# The `io.oxserve:oxserve` Maven artifact (java/): Maven builds the native library (bindings/java)
# with cargo in debug mode, then JUnit starts the server inside the JVM and calls it over V2 and
# Seldon, REST and gRPC; the artifact is installed into Maven's local repository (~/.m2: cache
# it, never commit it), where examples/java-model finds it for its own tests.
java-test: toolchain
	cd java && $(MVN) -q -B -Dcargo.profile=dev -Dcargo.profile.dir=debug install
	cd examples/java-model && $(MVN) -q -B verify

# R for the `oxserve` R package: Debian's r-base-dev and r-cran-testthat (CRAN is not used).
r-deps:
	@Rscript -e 'library(testthat)' >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq r-base-dev r-cran-testthat; }

# The R package (r/; Makevars builds its Rust library, bindings/r, with cargo), installed into
# target/r-lib rather than R's site library. A debug build, in the target folder r-lint checks
# in, so that the two share build scripts and procedural macros.
R_LIB := target/r-lib
r-install: r-deps toolchain
	mkdir -p $(R_LIB)
	CARGO_TARGET_DIR=$(abspath bindings/r/target) OXSERVE_CARGO_PROFILE=dev \
		R CMD INSTALL --no-multiarch --library=$(R_LIB) r

# The R package's source tarball, target/r-build/oxserve_<version>.tar.gz, with every Rust source
# vendored so that `R CMD INSTALL` builds it offline (about 60 MB; `make r-check` checks it).
r-tarball: r-deps toolchain
	r/tools/source-package.sh target/r-build

# `R CMD check` of that tarball: it installs on its own (offline, from the vendored sources) and
# its tests pass. Vendored crates bring notes R cannot avoid (hidden .cargo files, long paths)
# and one warning (protoc binaries of other platforms in protoc-bin-vendored); errors fail.
r-check: r-tarball
	cd target/r-build && _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual --no-build-vignettes \
		oxserve_$$(sed -n 's/^Version: //p' $(abspath r/DESCRIPTION)).tar.gz

# bindings/r is a workspace of its own (its build needs R's headers), so it is linted here.
r-lint: r-deps toolchain
	$(CARGO) fmt --manifest-path bindings/r/Cargo.toml -- --check
	$(CARGO) clippy --manifest-path bindings/r/Cargo.toml --all-targets -- -D warnings

# testthat serves models from separate R processes and calls them over REST, and over gRPC with
# the venv's tritonclient and grpcio (Seldon stubs from our protos); it also runs the tour of
# examples/r-glm.
r-test: r-install $(VENV)/.test-deps
	cd r/tests && R_LIBS=$(abspath $(R_LIB)) OXSERVE_PYTHON=$(abspath $(VPY)) OXSERVE_EXAMPLES=$(abspath examples) \
		OXSERVE_PROTOS=$(abspath crates/oxserve-protocol/proto) Rscript -e \
		'testthat::test_dir("testthat", package = "oxserve", load_package = "installed", stop_on_failure = TRUE)'

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(SELDON_CLIENT_VENV) $(MODELS) python/src/oxserve/_native*.so java/target examples/java-model/target
