#!/usr/bin/env bash
# The Debian package, checked the way an admin meets it: build it (packaging/build-deb.sh),
# lintian without errors, the unit through `systemd-analyze verify`, then install, use,
# upgrade in place, remove and purge it with dpkg on this machine, checking each step.
#
# It changes the system (a package, a user, /etc/ferryd, /var/lib/ferryd), so it runs only as
# root, only with CI=true or FERRYD_PACKAGE_TEST=yes, and never when ferryd is installed
# already. It purges the package at the end, also after a failure, and removes the ferryd
# user if it created it. Needs: cargo-deb, dpkg-dev, lintian, systemd (for systemd-analyze
# and systemd-sysusers; the unit needs no running systemd).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
    echo "package test: FAILED: $*" >&2
    exit 1
}
step() { echo "-- $*"; }

[ "$(id -u)" = 0 ] || fail "run as root: it installs the package"
[ "${CI:-}" = true ] || [ "${FERRYD_PACKAGE_TEST:-}" = yes ] ||
    fail "it installs and purges a package here; set FERRYD_PACKAGE_TEST=yes to allow it"
if dpkg-query -W -f '${Status}' ferryd 2>/dev/null | grep -q installed; then
    fail "a ferryd package is installed already; this test would replace it"
fi
[ ! -e /etc/ferryd ] && [ ! -e /var/lib/ferryd ] ||
    fail "/etc/ferryd or /var/lib/ferryd exists; this test would touch them"
user_existed=no
getent passwd ferryd >/dev/null && user_existed=yes

cleanup() {
    FERRYD_PURGE_DATA=yes dpkg --purge ferryd >/dev/null 2>&1 || true
    if [ "$user_existed" = no ] && getent passwd ferryd >/dev/null; then
        userdel ferryd >/dev/null 2>&1 || true
        groupdel ferryd >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

step "build"
deb=$(packaging/build-deb.sh | tail -n 1)
[ -f "$deb" ] || fail "no package at $deb"
echo "$deb"

step "contents"
contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/ferryd ./etc/ferryd/ferryd.toml ./usr/lib/systemd/system/ferryd.service \
    ./usr/lib/sysusers.d/ferryd.conf ./usr/lib/tmpfiles.d/ferryd.conf \
    ./usr/share/man/man1/ferryd.1.gz ./usr/share/man/man1/ferryd-user-add.1.gz \
    ./usr/share/bash-completion/completions/ferryd ./usr/share/zsh/vendor-completions/_ferryd \
    ./usr/share/fish/vendor_completions.d/ferryd.fish ./usr/share/doc/ferryd/copyright; do
    grep -q " $path\$" <<<"$contents" || fail "the package lacks $path"
done
! grep -q "hook-runner\|ferryd-manpage" <<<"$contents" || fail "a hidden subcommand has a page"
dpkg-deb --field "$deb" Depends | grep -q libc6 || fail "no libc6 in Depends"
control=$(mktemp -d)
dpkg-deb --control "$deb" "$control"
grep -qx /etc/ferryd/ferryd.toml "$control/conffiles" || fail "ferryd.toml is not a conffile"
rm -rf "$control"

step "lintian"
# Errors fail; warnings are printed for whoever touches the packaging next.
lintian --fail-on error --display-level '>=warning' "$deb"

step "install"
dpkg -i "$deb"
getent passwd ferryd >/dev/null || fail "no ferryd user"
[ "$(getent passwd ferryd | cut -d: -f7)" = /usr/sbin/nologin ] || fail "ferryd has a login shell"
for dir in /var/lib/ferryd /var/lib/ferryd/state /var/lib/ferryd/data; do
    [ "$(stat -c '%a %U %G' "$dir")" = "750 ferryd ferryd" ] ||
        fail "$dir is $(stat -c '%a %U %G' "$dir"), not 750 ferryd ferryd"
done
for secret in ftps-key.pem ssh_host_ed25519_key ssh_host_ecdsa_key users.toml; do
    [ "$(stat -c '%a %U' "/var/lib/ferryd/state/$secret")" = "600 ferryd" ] ||
        fail "state/$secret is not 0600 ferryd"
done
[ "$(stat -c '%U' /var/lib/ferryd/state/ftps-cert.pem)" = ferryd ] || fail "the certificate is not ferryd's"
[ ! -e /etc/systemd/system/multi-user.target.wants/ferryd.service ] ||
    fail "the package enabled the service"
[ "$(stat -c '%a %U' /etc/ferryd/ferryd.toml)" = "644 root" ] || fail "ferryd.toml is not 0644 root"

step "systemd-analyze verify (the installed unit, its ExecStart binary present)"
verify=$(systemd-analyze verify /usr/lib/systemd/system/ferryd.service 2>&1) ||
    fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify complained: $verify"

step "first steps as docs/install.md gives them"
# The admin commands run as the service's user, so what they write stays readable to it.
runuser -u ferryd -- ferryd user add alice --random-password | grep '^password: ' >/dev/null ||
    fail "user add printed no password"
[ "$(stat -c '%U' /var/lib/ferryd/state/users.toml)" = ferryd ] || fail "users.toml changed owner"
# check-config binds every listener (21, 990, 22) as serve would; as root it may. In a network
# namespace of its own when possible, so an sshd already on port 22 of the CI machine cannot
# fail the check of the package.
if unshare --net true 2>/dev/null; then
    unshare --net /usr/bin/ferryd --config /etc/ferryd/ferryd.toml check-config
else
    /usr/bin/ferryd --config /etc/ferryd/ferryd.toml check-config
fi
MANWIDTH=200 man -l /usr/share/man/man1/ferryd.1.gz 2>/dev/null | grep "ferryd-user(1)" >/dev/null ||
    fail "the man page does not render"
bash -c 'source /usr/share/bash-completion/completions/ferryd && complete -p ferryd' >/dev/null ||
    fail "the bash completion does not load"

step "reinstall (upgrade in place) keeps keys, users and the edited conffile"
key_sum=$(sha256sum /var/lib/ferryd/state/ssh_host_ed25519_key /var/lib/ferryd/state/users.toml)
sed -i 's/^banner = .*/banner = "edited by the admin"/' /etc/ferryd/ferryd.toml
dpkg -i --force-confold "$deb"
[ "$(sha256sum /var/lib/ferryd/state/ssh_host_ed25519_key /var/lib/ferryd/state/users.toml)" = "$key_sum" ] ||
    fail "an upgrade changed a key or the users file"
grep -q 'edited by the admin' /etc/ferryd/ferryd.toml || fail "an upgrade replaced the edited config"

step "remove keeps config, state and data; purge keeps data"
mkdir -p /var/lib/ferryd/data/alice
echo keep >/var/lib/ferryd/data/alice/upload.txt
dpkg --remove ferryd
[ ! -e /usr/bin/ferryd ] || fail "remove left the binary"
[ -f /etc/ferryd/ferryd.toml ] && [ -f /var/lib/ferryd/state/users.toml ] ||
    fail "remove took the config or the state"
dpkg --purge ferryd
[ ! -e /etc/ferryd ] || fail "purge left /etc/ferryd"
[ ! -e /var/lib/ferryd/state ] || fail "purge left the state directory"
[ -f /var/lib/ferryd/data/alice/upload.txt ] || fail "purge removed the users' data"
getent passwd ferryd >/dev/null || fail "purge removed the system user"

step "reinstall over the kept data, then purge with FERRYD_PURGE_DATA=yes"
dpkg -i "$deb" >/dev/null
[ -f /var/lib/ferryd/data/alice/upload.txt ] || fail "a reinstall touched the kept data"
FERRYD_PURGE_DATA=yes dpkg --purge ferryd
[ ! -e /var/lib/ferryd ] && [ ! -e /etc/ferryd ] || fail "purge with data left /var/lib/ferryd"
dpkg-query -W ferryd >/dev/null 2>&1 && fail "dpkg still knows ferryd"

echo "package: 1 passed, 0 failed"
