#!/usr/bin/env bash
# Runs every fuzz target (or those named as arguments) for FUZZ_SECONDS each, one at a time,
# and fails on the first crash. CI runs it with the default 20 s as a smoke test; for a real
# session use e.g. `FUZZ_SECONDS=600 fuzz/run.sh sftp_packet`. See docs/fuzzing.md.
#
# libFuzzer needs nightly-only compiler flags; RUSTC_BOOTSTRAP=1 unlocks them on the stable
# toolchain, as rustls's CI does, so no second toolchain has to be installed.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-20}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(ftp_line ftp_address sftp_packet vfs_path config users_file proxy_header scp_records)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    echo "== fuzz $target for ${seconds}s"
    # The checked-in corpus is the seed; new finds go to a scratch directory so a run never
    # dirties the tree. A crash lands in fuzz/artifacts/<target>/ and makes cargo fuzz fail.
    scratch="target/corpus/$target"
    mkdir -p "$scratch"
    # `--debug-assertions` adds overflow checks, so an overflowing length is a finding. No
    # single allocation may reach 64 MiB: every decoder is bounded far below that.
    cargo fuzz run --debug-assertions "$target" "$scratch" "corpus/$target" -- \
        -max_total_time="$seconds" -malloc_limit_mb=64 -print_final_stats=1
done
