#!/usr/bin/env bash
# Builds target/debian/ferryd_VERSION-1_ARCH.deb from [package.metadata.deb] in Cargo.toml.
#
# The package's generated assets come from the release binary itself, so they always match it:
# the man pages (`ferryd manpage`), the completions (`ferryd completions`), and the systemd
# unit, which is config/ferryd.service (the one source of truth, for manual installs into
# /usr/local/bin) with the package's /usr/bin path and a Documentation= line naming what only
# the package installs. They go to target/deb-assets/.
#
# Reuses target/release/ferryd when it is newer than every source file; otherwise builds it.
# Needs cargo-deb (`cargo install cargo-deb --locked`) and dpkg-dev (for dpkg-shlibdeps).
# Prints the path of the package on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["packages"][0]["version"])')
changelog_version=$(sed -n '1s/^ferryd (\([^)-]*\)-[^)]*).*/\1/p' packaging/changelog)
if [ "$version" != "$changelog_version" ]; then
    echo "build-deb: Cargo.toml says $version, packaging/changelog's first entry says" \
        "${changelog_version:-nothing}: add a changelog entry for $version" >&2
    exit 1
fi

binary=target/release/ferryd
if [ ! -x "$binary" ] || [ -n "$(find src config Cargo.toml Cargo.lock -newer "$binary" -print -quit)" ]; then
    echo "== cargo build --release"
    nice cargo build --release --locked --bin ferryd
fi

assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/completions"
"$binary" manpage "$assets/man" >/dev/null
"$binary" completions bash >"$assets/completions/ferryd.bash"
"$binary" completions zsh >"$assets/completions/_ferryd"
"$binary" completions fish >"$assets/completions/ferryd.fish"
sed -e 's#/usr/local/bin/ferryd#/usr/bin/ferryd#g' \
    -e 's#^\# systemd unit for ferryd\..*#\# systemd unit for ferryd, from the Debian package; override with `systemctl edit ferryd`.#' \
    -e 's#^Description=.*#&\nDocumentation=man:ferryd(1) file:///usr/share/doc/ferryd/install.md#' \
    config/ferryd.service >"$assets/ferryd.service"
if grep -q /usr/local "$assets/ferryd.service"; then
    echo "build-deb: the packaged unit still names /usr/local" >&2
    exit 1
fi

echo "== cargo deb"
# Stripped: the release profile keeps line tables for local debugging, the package need not.
cargo deb --no-build --locked --strip --quiet
echo "target/debian/ferryd_${version}-1_$(dpkg --print-architecture).deb"
