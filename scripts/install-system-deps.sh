#!/usr/bin/env bash
# Installs the Debian packages dkgen's harness needs, only when something is missing:
# the Arm cross compiler with newlib, QEMU for the Cortex-M boards, and clang as the
# second C compiler the generated code is held to.
set -euo pipefail
need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || need+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v cmake >/dev/null || need+=(cmake)
command -v clang >/dev/null || command -v clang-16 >/dev/null || command -v clang-14 >/dev/null || need+=(clang)
[ ${#need[@]} -eq 0 ] && exit 0
echo "dkgen: installing ${need[*]} with apt-get" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "dkgen: missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
