#!/bin/sh
# Makes the source tarball of the R package, oxserve_<version>.tar.gz, in the folder given (by
# default target/r-build): a copy of r/ with every Rust source its library needs under
# src/rust — the crate in bindings/r, the workspace crates it depends on, and its crates.io
# dependencies vendored — so that `R CMD INSTALL` of the tarball builds without the repository
# or the network. Makevars switches to src/rust when it is there.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/target/r-build}" && cd "${1:-$root/target/r-build}" && pwd)
stage=$out/oxserve
rust=$stage/src/rust

rm -rf "$stage"
mkdir -p "$stage"
cp -R "$root/r/." "$stage/"
rm -rf "$stage/src/target" "$stage"/src/*.o "$stage"/src/*.so

mkdir -p "$rust/bindings/r" "$rust/crates"
cp -R "$root/bindings/r/Cargo.toml" "$root/bindings/r/Cargo.lock" "$root/bindings/r/src" "$rust/bindings/r/"
# The workspace crates the library depends on (path dependencies), and the workspace manifest
# they inherit their package fields and dependency versions from, limited to them.
cargo tree --manifest-path "$root/bindings/r/Cargo.toml" --prefix none -e normal,build -f '{p}' |
  sed -n "s|.*($root/crates/\([^)]*\))\$|\1|p" | sort -u |
  while read -r crate; do cp -R "$root/crates/$crate" "$rust/crates/"; done
sed 's|^members = .*|members = ["crates/*"]|' "$root/Cargo.toml" >"$rust/Cargo.toml"

cargo vendor --quiet --locked --manifest-path "$rust/bindings/r/Cargo.toml" "$rust/vendor" >/dev/null
# R CMD build leaves out some files cargo's checksums list (.gitignore files, for one); the
# tarball itself is what is checked, so the per-file checksums are dropped.
find "$rust/vendor" -name .cargo-checksum.json -exec sed -i "s/\"files\":{[^}]*}/\"files\":{}/" {} \;

cd "$out"
R CMD build --no-build-vignettes --no-manual oxserve
