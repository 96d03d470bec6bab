#!/usr/bin/env bash
# Installs everything the project needs on a Debian/Ubuntu machine (Python 3.10+):
#   - Debian packages: R with mgcv/lme4/lmerTest (the GAMMs), festival + voices and sox (the
#     synthetic demo corpus), chromium (the report's HTML opened headless by the tests);
#   - a virtual environment .venv with requirements.txt.
# Safe to re-run: it installs only what is missing.
# TensorFlow: the CUDA build when nvidia-smi lists a GPU, else the CPU build; CIWGAN_TF=gpu|cpu
# forces either. `./setup.sh --print-tf-variant` prints the choice and installs nothing.
set -euo pipefail
cd "$(dirname "$0")"

# TensorFlow variant (e.g. CIWGAN_TF=cpu on a GPU machine shared with others).
tf_variant="${CIWGAN_TF:-auto}"
if [ "$tf_variant" = auto ]; then
  tf_variant=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    tf_variant=gpu
  fi
fi
case "$tf_variant" in
  cpu|gpu) ;;
  *) echo "setup.sh: CIWGAN_TF=$tf_variant: expected cpu, gpu or auto" >&2; exit 2 ;;
esac

if [ "${1:-}" = "--print-tf-variant" ]; then echo "$tf_variant"; exit 0; fi

# chromium: the tests open report.html in a headless browser (tests/test_report_html.py);
# measured 33 s (apt-get update and install, --no-install-recommends) on this kind of machine.
DEBIAN_PACKAGES=(r-base-core r-cran-mgcv r-cran-lme4 r-cran-lmertest r-cran-pbkrtest r-cran-emmeans
                 festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
                 festlex-cmu festlex-poslex sox chromium)

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
want="$(sha256sum requirements.txt | cut -d' ' -f1) tf=$tf_variant"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup.sh: installing Python packages (requirements.txt, TensorFlow for $tf_variant)"
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$tf_variant" = gpu ]; then
    # requirements.txt names tensorflow-cpu on x86_64: swap in the CUDA build, same versions.
    tf_range=$(sed -n 's/^tensorflow-cpu\([^ ;]*\).*/\1/p' requirements.txt)
    .venv/bin/python -m pip uninstall -q -y tensorflow-cpu 2>/dev/null || true
    grep -v '^tensorflow' requirements.txt > .venv/requirements-gpu.txt
    echo "tensorflow[and-cuda]${tf_range}" >> .venv/requirements-gpu.txt
    .venv/bin/python -m pip install -q -r .venv/requirements-gpu.txt
  else
    .venv/bin/python -m pip uninstall -q -y tensorflow 2>/dev/null || true
    .venv/bin/python -m pip install -q -r requirements.txt
  fi
  echo "$want" > "$stamp"
fi
echo "setup.sh: ready (.venv/bin/python)"
