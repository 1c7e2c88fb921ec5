#include "dkgen_dope_matvec_s8.h"

/*
 * The walk over the (gap, value) stream, for one gap width: `step` is s->step8 or
 * s->step16. A row's products are summed in a register and added to acc once, scaled by
 * 2^shift once (the same integer as scaling each product: the generator bounds the
 * scaled row sum, so no partial sum overflows), when the walk leaves the row.
 * A gap that crosses rows is resolved by one division where the core has one
 * (__ARM_FEATURE_IDIV; a dope's gaps often span several short rows), by subtraction
 * elsewhere (Cortex-M0 has no divide instruction).
 */
#if defined(__ARM_FEATURE_IDIV) && !defined(DKGEN_PORTABLE)
#define DKGEN_DOPE_ROWS_AHEAD(q)                                                            \
    do {                                                                                   \
        (q) = col / cols;                                                                  \
        col -= (q) * cols;                                                                 \
    } while (0)
#else
#define DKGEN_DOPE_ROWS_AHEAD(q)                                                            \
    do {                                                                                   \
        (q) = 0u;                                                                          \
        do {                                                                               \
            col -= cols;                                                                   \
            (q)++;                                                                         \
        } while (col >= cols);                                                             \
    } while (0)
#endif

/* One entry: step `gap` along the stream, leave the row (and those after it) if the step
 * crosses its end, add the product. Most entries stay in their row (a dope has a few
 * entries a row or more): marked unlikely, the row change moves out of the loop, and with
 * it the scaling of the row's sum that gcc would otherwise compute at every entry. */
#define DKGEN_DOPE_ENTRY(gap, v)                                                            \
    do {                                                                                   \
        col += (uint32_t)(gap);                                                            \
        if (DKGEN_UNLIKELY(col >= cols)) {                                                 \
            uint32_t q;                                                                    \
            acc[row] += sum * unit;                                                        \
            sum = 0;                                                                       \
            DKGEN_DOPE_ROWS_AHEAD(q);                                                      \
            row += q;                                                                      \
        }                                                                                  \
        sum += (int32_t)(v) * (int32_t)x[col];                                             \
    } while (0)

/* Entries e (set by the caller) to count - 1, `row` and `col` where the walk stands; `T`
 * is the step type. On Thumb-2 cores pointers run through the stream: with an index,
 * gcc's Cortex-M7 tuning keeps both and pays three more instructions an entry. On
 * Thumb-1 (Cortex-M0) the index form is the one that fits its eight low registers
 * (pointers there cost 2% more). Either way the loop is loads, the row test and one
 * multiply-accumulate. */
#if defined(__ARM_ARCH_6M__)
#define DKGEN_DOPE_WALK(T, step)                                                            \
    do {                                                                                   \
        for (; e < count; e++) {                                                           \
            DKGEN_DOPE_ENTRY((step)[e], val[e]);                                           \
        }                                                                                  \
    } while (0)
#else
#define DKGEN_DOPE_WALK(T, step)                                                            \
    do {                                                                                   \
        const T *st = (step) + e;                                                          \
        const T *const st_end = (step) + count;                                            \
        const int8_t *v = val + e;                                                         \
        while (st != st_end) {                                                             \
            DKGEN_DOPE_ENTRY(*st++, *v++);                                                 \
        }                                                                                  \
    } while (0)
#endif

void dkgen_dope_matvec_s8(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t cols = s->cols;
    const uint32_t count = s->count;
    const int8_t *val = s->val;
    const int32_t unit = (int32_t)1 << s->shift;
    uint32_t row = 0u;
    uint32_t col = 0u;
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
    acc[row] += sum * unit;
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
    uint32_t row = 0u;
    uint32_t col = blk[1];
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
    acc[row] += sum * unit;
}
