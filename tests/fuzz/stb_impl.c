/*
 * stb_impl.c - stb_image and stb_image_write compiled from Debian's headers
 * into the fuzz binaries, so that the decoder itself is instrumented: the
 * fuzzer sees its branches and ASan its memory accesses. The linker takes
 * these definitions before the prebuilt -lstb, which they replace. (Built
 * without UBSan: see the Makefile.)
 */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
