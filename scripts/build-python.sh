#!/bin/sh
# An optimised CPython 3.12 (PGO + LTO, libpython linked in) for the laptop: pyenv and
# `./configure` build without either unless asked, and such a build spends a fifth to a half
# more CPU on this project's work than Lambda's, python.org's or a distribution's (README,
# "Which Python"). Idempotent; prints the interpreter's path last.
#   scripts/build-python.sh            build into $SLUICE_PYTHON_HOME (default ~/.cache/sluice)
#   make PY=$(scripts/build-python.sh | tail -n 1) test
# The source is CPython's release tarball, as Ubuntu's archive carries it (python.org is not
# reachable from every machine this project is built on); its SHA-256 is pinned below.
set -eu

VERSION=3.12.3
SHA256=56bfef1fdfc1221ce6720e43a661e3eb41785dd914ce99698d8c7896af4bdaa1
URL="http://archive.ubuntu.com/ubuntu/pool/main/p/python3.12/python3.12_${VERSION}.orig.tar.xz"
HOME_DIR="${SLUICE_PYTHON_HOME:-$HOME/.cache/sluice}"
PREFIX="$HOME_DIR/python-$VERSION-pgo-lto"
PYTHON="$PREFIX/bin/python3.12"  # the Makefile's FAST_PY: change both together

if [ -x "$PYTHON" ] && "$PYTHON" -c 'import ssl, sqlite3, lzma, bz2, ctypes, zlib' 2>/dev/null; then
    echo "$PYTHON"
    exit 0
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sluice-python.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
echo "downloading CPython $VERSION" >&2
curl -fsSL --retry 3 -o "$WORK/src.tar.xz" "$URL"
echo "$SHA256  $WORK/src.tar.xz" | sha256sum -c - >&2
tar -xJf "$WORK/src.tar.xz" -C "$WORK"
cd "$WORK/Python-$VERSION"
echo "building CPython $VERSION with PGO and LTO into $PREFIX (about 15 minutes on 2 cores)" >&2
./configure --prefix="$PREFIX" --enable-optimizations --with-lto --disable-test-modules \
    >"$WORK/configure.log" 2>&1 || { tail -n 30 "$WORK/configure.log" >&2; exit 1; }
make -j"$(nproc)" >"$WORK/make.log" 2>&1 || { tail -n 40 "$WORK/make.log" >&2; exit 1; }
# Installed beside PREFIX, then renamed into place: `make` takes any Python 3.12 at PREFIX,
# so an interrupted install or a build without a module must never be left there.
STAGE="$HOME_DIR/.staging-$$"
trap 'rm -rf "$WORK" "$STAGE"' EXIT
make altinstall DESTDIR="$STAGE" >"$WORK/install.log" 2>&1 ||
    { tail -n 30 "$WORK/install.log" >&2; exit 1; }
# Without their headers (OpenSSL, SQLite, libffi, zlib, xz, bzip2) configure leaves these
# modules out silently.
"$STAGE$PYTHON" -c 'import ssl, sqlite3, lzma, bz2, ctypes, zlib' || {
    echo "the build lacks a module the project needs (the import error above): install its headers" >&2
    exit 1
}
rm -rf "$PREFIX"
mv "$STAGE$PREFIX" "$PREFIX"
echo "$PYTHON"
