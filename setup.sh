#!/usr/bin/env bash
# Installs everything the project needs on a Debian/Ubuntu machine (Python 3.10+):
#   - Debian packages: R with mgcv/lme4/lmerTest (the GAMMs), festival + voices and sox (the
#     synthetic demo corpus);
#   - a virtual environment .venv with requirements.txt.
# Safe to re-run: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

DEBIAN_PACKAGES=(r-base-core r-cran-mgcv r-cran-lme4 r-cran-lmertest r-cran-emmeans
                 festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
                 festlex-cmu festlex-poslex sox)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup.sh: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup.sh: creating .venv"
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    # Debian's system Python needs its venv module from a package.
    rm -rf .venv
    pyver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "python${pyver}-venv" >/dev/null || \
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    "$PYTHON" -m venv .venv
  fi
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup.sh: installing Python packages (requirements.txt)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi
echo "setup.sh: ready (.venv/bin/python)"
