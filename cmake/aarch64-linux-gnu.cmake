# Cross toolchain for aarch64 Linux with Debian's g++-aarch64-linux-gnu and the arm64 libraries
# installed through multiarch (dpkg --add-architecture arm64; libhwy-dev:arm64 ...): headers in
# /usr/include (+ /usr/include/aarch64-linux-gnu), libraries in /usr/lib/aarch64-linux-gnu.
# scripts/cross_arm64.sh installs them and uses this file. Binaries run under qemu-aarch64-static.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
find_program(SHOAL_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(SHOAL_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SHOAL_QEMU_AARCH64})
endif()
# pkg-config must see only the arm64 .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
# The host's MPI is x86-64: the comm layer builds its stub instead.
set(CMAKE_DISABLE_FIND_PACKAGE_MPI ON)
