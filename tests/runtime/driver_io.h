/*
 * The stdin/stdout plumbing of the kernel test drivers (kernel_driver.c, kernel_driver_s8.c):
 * raw little-endian binary in, raw binary out, every array malloc'd at its exact size so a
 * sanitizer build catches any access past it, and scratch with a guard tail.
 * Define DRIVER_NAME (the program's name, for messages) before including this file.
 */
#ifndef DKGEN_TEST_DRIVER_IO_H
#define DKGEN_TEST_DRIVER_IO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_BYTES 64u

static void die(const char *msg)
{
    fprintf(stderr, DRIVER_NAME ": %s\n", msg);
    exit(2);
}

static void *xmalloc(size_t bytes)
{
    /* malloc(0) may return NULL; keep every pointer valid and distinct. */
    void *p = malloc(bytes > 0u ? bytes : 1u);
    if (p == NULL) {
        die("out of memory");
    }
    return p;
}

static void read_exact(void *dst, size_t bytes)
{
    if (bytes > 0u && fread(dst, 1u, bytes, stdin) != bytes) {
        die("short read on stdin");
    }
}

static void expect_eof(void)
{
    if (fgetc(stdin) != EOF) {
        die("trailing bytes on stdin");
    }
}

static uint32_t read_u32(void)
{
    uint32_t v;
    read_exact(&v, sizeof v);
    return v;
}

static void *read_array(size_t n, size_t elem)
{
    void *p = xmalloc(n * elem);
    read_exact(p, n * elem);
    return p;
}

static void write_bytes(const void *src, size_t bytes)
{
    if (bytes > 0u && fwrite(src, 1u, bytes, stdout) != bytes) {
        die("short write on stdout");
    }
}

static uint16_t to_u16(uint32_t v)
{
    if (v > 0xFFFFu) {
        die("size does not fit uint16_t");
    }
    return (uint16_t)v;
}

/* `bytes` of scratch plus a guard tail, all set to `fill`. */
static unsigned char *guarded_alloc(size_t bytes, int fill)
{
    unsigned char *raw = (unsigned char *)xmalloc(bytes + GUARD_BYTES);
    memset(raw, fill, bytes + GUARD_BYTES);
    return raw;
}

/* 1 if the guard tail after `bytes` of scratch still holds `fill`. */
static int guard_intact(const unsigned char *raw, size_t bytes, int fill)
{
    size_t i;
    for (i = bytes; i < bytes + GUARD_BYTES; i++) {
        if (raw[i] != (unsigned char)fill) {
            return 0;
        }
    }
    return 1;
}

#endif /* DKGEN_TEST_DRIVER_IO_H */
