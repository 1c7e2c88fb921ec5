#include "dkgen_dope_matvec_s8.h"

/*
 * The walk over the (gap, value) stream, for one gap width: `step` is s->step8 or
 * s->step16. A row's products are summed in a register and added to acc once, scaled by
 * 2^shift once (the same integer as scaling each product: the generator bounds the
 * scaled row sum, so no partial sum overflows), when the walk leaves the row.
 *
 * `col` counts from the end of the row (-cols .. -1 inside it) and x is addressed from its
 * end: the add of each gap then sets the flags the row test needs (adds; bpl), one
 * instruction an entry fewer than comparing with cols. A gap that crosses rows is resolved
 * by one division where the core has one (__ARM_FEATURE_IDIV; a dope's gaps often span
 * several short rows), by subtraction elsewhere (Cortex-M0 has no divide instruction).
 */
#if defined(__ARM_FEATURE_IDIV) && !defined(DKGEN_PORTABLE)
#define DKGEN_DOPE_ROWS_AHEAD(q)                                                            \
    do {                                                                                   \
        (q) = (uint32_t)col / cols + 1u;                                                   \
        col -= (int32_t)((q) * cols);                                                      \
    } while (0)
#else
#define DKGEN_DOPE_ROWS_AHEAD(q)                                                            \
    do {                                                                                   \
        (q) = 0u;                                                                          \
        do {                                                                               \
            col -= (int32_t)cols;                                                          \
            (q)++;                                                                         \
        } while (col >= 0);                                                                \
    } while (0)
#endif

/* One entry: step `gap` along the stream, leave the row (and those after it) if the step
 * crosses its end, add the product. Most entries stay in their row (a dope has a few
 * entries a row or more): marked unlikely, the row change moves out of the loop, and with
 * it the scaling of the row's sum that gcc would otherwise compute at every entry. */
#define DKGEN_DOPE_ENTRY(gap, v)                                                            \
    do {                                                                                   \
        col += (int32_t)(gap);                                                             \
        if (DKGEN_UNLIKELY(col >= 0)) {                                                    \
            uint32_t q;                                                                    \
            *a += sum * unit;                                                              \
            sum = 0;                                                                       \
            DKGEN_DOPE_ROWS_AHEAD(q);                                                      \
            a += q;                                                                        \
        }                                                                                  \
        sum += (int32_t)(v) * (int32_t)x_end[col];                                         \
    } while (0)

/* Entries e (set by the caller) to count - 1, `a` (the row's accumulator) and `col` where
 * the walk stands; `T` is the step type. Pointers run through the stream (post-indexed
 * loads on Thumb-2; with an index, gcc's Cortex-M7 tuning keeps both and pays more
 * instructions an entry), four entries a loop test. On Cortex-M0 this form is also the
 * shortest measured (a PTB-like model: 1.5% fewer instructions than an index, 6% fewer
 * than one entry a loop test). */
#define DKGEN_DOPE_WALK(T, step)                                                            \
    do {                                                                                   \
        const T *st = (step) + e;                                                          \
        const int8_t *v = val + e;                                                         \
        uint32_t n = count - e;                                                            \
        for (; n >= 4u; n -= 4u) {                                                         \
            DKGEN_DOPE_ENTRY(*st++, *v++);                                                 \
            DKGEN_DOPE_ENTRY(*st++, *v++);                                                 \
            DKGEN_DOPE_ENTRY(*st++, *v++);                                                 \
            DKGEN_DOPE_ENTRY(*st++, *v++);                                                 \
        }                                                                                  \
        for (; n > 0u; n--) {                                                              \
            DKGEN_DOPE_ENTRY(*st++, *v++);                                                 \
        }                                                                                  \
    } while (0)

/* u as a two's-complement int32, without relying on the implementation-defined
 * conversion of an unsigned value above INT32_MAX (gcc compiles it to nothing). */
static inline int32_t wrap_s32(uint32_t u)
{
    return (u <= (uint32_t)INT32_MAX) ? (int32_t)u : -(int32_t)(UINT32_MAX - u) - 1;
}

void dkgen_dope_matvec_s8(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t cols = s->cols;
    const uint32_t count = s->count;
    const int8_t *val = s->val;
    const int32_t unit = (int32_t)1 << s->shift;
    const int8_t *const x_end = x + cols;
    int32_t *a = acc;
    int32_t col = -(int32_t)cols;
    uint32_t e = 0u;
    int32_t sum = 0;

    if (cols == 0u || count == 0u) {
        return;
    }
    /* One loop per gap width, chosen once rather than per entry. */
    if (s->step8 != NULL) {
        DKGEN_DOPE_WALK(uint8_t, s->step8);
    } else {
        DKGEN_DOPE_WALK(uint16_t, s->step16);
    }
    *a += sum * unit;
}

/*
 * The same walk over one block's entries. The generator knows where each block's entries
 * begin and end, so the walk needs no test of the block's end: its loop is the whole
 * matrix's. It starts at the entry before the block's first (relative to the block's
 * first row; below 0 wraps, and adding the first gap gives the exact, non-negative index
 * back), so the first entry may lie in any row of the block.
 */
void dkgen_dope_matvec_s8_block(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                                uint32_t b, int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t *blk = &s->block[2u * b];
    const uint32_t cols = s->cols;
    const uint32_t count = blk[2];
    const int8_t *val = s->val;
    const int32_t unit = (int32_t)1 << s->shift;
    const int8_t *const x_end = x + cols;
    int32_t *a = acc;
    int32_t col = wrap_s32(blk[1] - cols);
    uint32_t e = blk[0];
    int32_t sum = 0;

    if (cols == 0u || e >= count) {
        return;
    }
    if (s->step8 != NULL) {
        DKGEN_DOPE_WALK(uint8_t, s->step8);
    } else {
        DKGEN_DOPE_WALK(uint16_t, s->step16);
    }
    *a += sum * unit;
}
