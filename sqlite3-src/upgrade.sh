#!/usr/bin/env bash
# Replaces sqlite3-src/upstream/ with the amalgamation shipped by registry packages, byte for byte,
# records where it came from (VERSION) and its checksums (SHA256SUMS), then re-applies our patch
# series. Run from anywhere:
#
#   sqlite3-src/upgrade.sh [LIBSQLITE3_SYS_VERSION] [NPM_SQLITE3_VERSION]
#
# sqlite3.c, sqlite3.h and sqlite3ext.h come from the crates.io crate libsqlite3-sys (its bundled
# copy); shell.c comes from the SQLite autoconf tarball inside the npm package sqlite3, because no
# crate ships a shell.c as new as libsqlite3-sys's core. If a patch no longer applies, the last
# step fails: rebase the patch (see PATCHES.md) and run `cargo xtask patch`.
set -euo pipefail

sys_version=${1:-0.40.0}
npm_version=${2:-6.0.1}
here=$(cd "$(dirname "$0")" && pwd)
dest=$here/upstream
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "fetching libsqlite3-sys $sys_version from crates.io"
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-sqlite"
version = "0.0.0"
edition = "2021"
[dependencies]
libsqlite3-sys = { version = "=$sys_version", default-features = false }
[workspace]
TOML
: >"$work/fetch/src/lib.rs"
(cd "$work/fetch" && cargo fetch --quiet)
crate_dir=$(cd "$work/fetch" && cargo metadata --format-version 1 |
  python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="libsqlite3-sys").rsplit("/",1)[0])')

echo "fetching npm sqlite3@$npm_version for shell.c"
(cd "$work" && npm pack --silent "sqlite3@$npm_version" >/dev/null)
tar xzf "$work"/sqlite3-*.tgz -C "$work" package/deps
tarball=$(ls "$work"/package/deps/sqlite-autoconf-*.tar.gz)
tar xzf "$tarball" -C "$work" --wildcards '*/shell.c'
shell_c=$(ls "$work"/sqlite-autoconf-*/shell.c)

cp "$crate_dir/sqlite3/sqlite3.c" "$crate_dir/sqlite3/sqlite3.h" "$crate_dir/sqlite3/sqlite3ext.h" "$dest/"
cp "$shell_c" "$dest/shell.c"

core_version=$(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"/\1/p' "$dest/sqlite3.h")
shell_version=$(basename "$(dirname "$shell_c")" | sed 's/sqlite-autoconf-//')
cat >"$dest/VERSION" <<TXT
sqlite $core_version
sqlite3.c sqlite3.h sqlite3ext.h: crates.io libsqlite3-sys $sys_version (sqlite3/)
shell.c: npm sqlite3 $npm_version (deps/$(basename "$tarball")), SQLite autoconf $shell_version
TXT
(cd "$dest" && sha256sum shell.c sqlite3.c sqlite3.h sqlite3ext.h >SHA256SUMS)

echo "re-applying the patch series"
(cd "$here/.." && cargo xtask patch)
cat "$dest/VERSION"
