#!/usr/bin/env bash
# Install what the browser test (tests/browser) needs, only when it is missing:
#   * Debian's `chromium` (+ a font) with apt-get, as root (or through sudo);
#   * the Python package `playwright` into a virtualenv. Playwright drives the system Chromium;
#     its own browser download (`playwright install`) is never used.
#
# Usage: scripts/install_browser_test_deps.sh [VENV_DIR | PYTHON]   (default: the `python3` on PATH)
# Idempotent and quiet: when everything is there it only checks and exits.
set -euo pipefail

PLAYWRIGHT_REQUIREMENT="${PLAYWRIGHT_REQUIREMENT:-playwright>=1.49}"

target="${1:-}"
if [[ -z "$target" ]]; then
    python="$(command -v python3 || command -v python)"
elif [[ -x "$target/bin/python" ]]; then
    python="$target/bin/python"
elif [[ -x "$target" && ! -d "$target" ]]; then
    python="$target"
else
    echo "install_browser_test_deps: '$target' is neither a virtualenv nor a python executable" >&2
    exit 2
fi

have_chromium() {
    if [[ -n "${PREDICTIONONE_CHROMIUM:-}" ]]; then
        [[ -x "$PREDICTIONONE_CHROMIUM" ]]
    else
        command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
    fi
}

# Without Chromium the browser test skips itself, except when CI is set (tests/browser/conftest.py);
# so only under CI is a Chromium that cannot be installed here an error.
cannot_install() {
    if [[ -n "${CI:-}" ]]; then
        echo "install_browser_test_deps: $1" >&2
        exit 1
    fi
    echo "install_browser_test_deps: $1; the browser test will be skipped" >&2
}

if ! have_chromium; then
    if [[ "$(id -u)" -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        as_root=(none)
    fi
    if [[ "${as_root[*]}" == none ]]; then
        cannot_install "chromium is missing and this is not root; run: apt-get install chromium"
    elif ! command -v apt-get >/dev/null 2>&1; then
        cannot_install "chromium is missing and there is no apt-get; install Chromium and set PREDICTIONONE_CHROMIUM to its executable"
    else
        echo "install_browser_test_deps: installing chromium (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        "${as_root[@]}" apt-get update -qq
        "${as_root[@]}" apt-get install -y -qq chromium fonts-liberation >/dev/null
        have_chromium || { echo "install_browser_test_deps: chromium still not found after apt-get" >&2; exit 1; }
    fi
fi

if ! "$python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install_browser_test_deps: installing $PLAYWRIGHT_REQUIREMENT into $("$python" -c 'import sys; print(sys.prefix)')"
    uv="$(dirname "$python")/uv"
    if [[ -x "$uv" ]]; then
        "$uv" pip install --quiet --python "$python" "$PLAYWRIGHT_REQUIREMENT"
    else
        "$python" -m pip install --quiet --disable-pip-version-check "$PLAYWRIGHT_REQUIREMENT"
    fi
    "$python" -c "import playwright.sync_api"
fi
