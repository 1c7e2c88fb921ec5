# CMake toolchain file: Arm GNU toolchain for a Cortex-M4F (hard float), no OS.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
# A bare-metal compiler cannot link a test program without startup code and a linker script.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
# The core's flags (they also reach the link). A CMAKE_C_FLAGS given on the command line
# replaces them: add flags of your own with target_compile_options instead.
set(CMAKE_C_FLAGS_INIT "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -ffunction-sections -fdata-sections")
set(CMAKE_C_FLAGS_RELEASE_INIT "-O2")
set(CMAKE_BUILD_TYPE Release CACHE STRING "")
