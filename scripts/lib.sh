# Shared helpers for the project scripts. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
# Where cargo writes (CARGO_TARGET_DIR if set, so two worktrees need not share one).
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# A one-off build (CI) gains nothing from incremental caches, which take tens of GB.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

# Each line says how long the script has run, so a CI log shows where the time goes.
log() { printf '\033[1m==> [%dm%02ds] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

# Version of a package as locked in Cargo.lock.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# Installs the build tools that are missing; each is pinned and skipped when present.
ensure_build_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local want
  want="$(locked_version wasm-bindgen)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (must equal Cargo.lock; takes about 8 minutes once)"
    # No --locked: its lockfile pins a yanked crate (see docs/development.md).
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# Debian Chromium and the end-to-end test packages (browser downloads disabled).
ensure_e2e_tools() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian chromium for the browser tests"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
  fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    log "installing end-to-end test packages (npm ci, no browser download)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Builds the wasm bundle, CSS and static files into target/site. The bundle
# must be built with the server's Leptos flags (.cargo/config.toml), or the
# pages fail to hydrate.
build_site() {
  local profile_flag="" profile_dir="debug"
  if [ "${CM_RELEASE:-0}" = 1 ]; then profile_flag="--profile wasm-release"; profile_dir="wasm-release"; fi
  log "building the browser bundle (wasm)"
  cargo build -p frontend --lib --target wasm32-unknown-unknown $profile_flag
  rm -rf target/site && mkdir -p target/site/pkg
  wasm-bindgen --target web --no-typescript --out-dir target/site/pkg --out-name contact_manager \
    "$TARGET_DIR/wasm32-unknown-unknown/$profile_dir/frontend.wasm"
  if [ "${CM_RELEASE:-0}" = 1 ]; then optimize_wasm target/site/pkg/contact_manager_bg.wasm; fi
  cp style/main.css target/site/pkg/contact_manager.css
  cp -r public/. target/site/
  vendor_embedded_sdk
  # A gzipped copy beside each file of pkg/, which the server sends to
  # browsers that take gzip (all do).
  find target/site/pkg -type f ! -name '*.gz' -exec gzip -9 -k -f {} +
}

# Shrinks the release bundle with binaryen's wasm-opt (pinned in
# vendor/binaryen, from the npm registry): half the bytes, 30 % less gzip.
# Running -Oz twice or with --converge gains under 1 % for twice the time.
optimize_wasm() {
  local wasm="$1" dir="vendor/binaryen"
  if [ ! -x "$dir/node_modules/.bin/wasm-opt" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "fetching the pinned wasm-opt (npm ci in $dir)"
    npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
  fi
  log "optimizing the browser bundle (wasm-opt -Oz)"
  # The features rustc's wasm32 target enables by default.
  "$dir/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    -o "$wasm.opt" "$wasm"
  mv "$wasm.opt" "$wasm"
}

# The Webex Embedded App SDK, pinned in vendor/webex-embedded-app-sdk (its
# package-lock.json), served by this site at /vendor/webex-embedded-app-sdk.js
# so the /embedded page's CSP stays script-src 'self' (docs/platform-contracts.md).
vendor_embedded_sdk() {
  local dir="vendor/webex-embedded-app-sdk"
  log "fetching the pinned Webex Embedded App SDK (npm ci in $dir)"
  npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
  mkdir -p target/site/vendor
  cp "$dir/node_modules/@webex/embedded-app-sdk/dist/iife/bundle.min.js" \
    target/site/vendor/webex-embedded-app-sdk.js
}

# The local Postgres (127.0.0.1:5432, trust auth), started if it is
# installed but down. Fails when there is none.
LOCAL_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
ensure_postgres() {
  command -v pg_isready >/dev/null || return 1
  if ! pg_isready -q -h 127.0.0.1 -p 5432 && command -v pg_ctlcluster >/dev/null; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      log "starting Postgres $version"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  pg_isready -q -h 127.0.0.1 -p 5432
}

build_server() {
  log "building the server"
  if [ "${CM_RELEASE:-0}" = 1 ]; then cargo build -p server --release; else cargo build -p server; fi
}

server_bin() {
  if [ "${CM_RELEASE:-0}" = 1 ]; then echo "$TARGET_DIR/release/contact-manager"; else echo "$TARGET_DIR/debug/contact-manager"; fi
}
