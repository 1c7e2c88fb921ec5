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

#define DKGEN_DOPE_WALK(step)                                                               \
    do {                                                                                   \
        for (e = 0u; e < count; e++) {                                                     \
            col += (uint32_t)(step)[e];                                                    \
            if (col >= cols) {                                                             \
                uint32_t q;                                                                \
                acc[row] += sum * unit;                                                    \
                sum = 0;                                                                   \
                DKGEN_DOPE_ROWS_AHEAD(q);                                                  \
                row += q;                                                                  \
            }                                                                              \
            sum += (int32_t)val[e] * (int32_t)x[col];                                      \
        }                                                                                  \
    } while (0)

void dkgen_dope_matvec_s8(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                          int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t cols = s->cols;
    const uint32_t count = s->count;
    const int8_t *val = s->val;
    const int32_t unit = (int32_t)1 << s->shift;
    uint32_t row = 0u;
    uint32_t col = 0u;
    uint32_t e;
    int32_t sum = 0;

    if (cols == 0u || count == 0u) {
        return;
    }
    /* One loop per gap width, chosen once rather than per entry. */
    if (s->step8 != NULL) {
        DKGEN_DOPE_WALK(s->step8);
    } else {
        DKGEN_DOPE_WALK(s->step16);
    }
    acc[row] += sum * unit;
}

/*
 * The same walk, one block of rows at a time. `out` points at the accumulator of the
 * walk's row and `left` counts the block's rows from it on, so that the entry loop needs
 * no more registers than the walk above (the block's end is tested only when the walk
 * leaves a row). An entry in a later block is left where it is: the cursor keeps the
 * position just before it (col - gap, which may wrap below 0: unsigned arithmetic gives
 * the column back exactly when the next block adds the gap again).
 */
#define DKGEN_DOPE_WALK_ROWS(step)                                                          \
    do {                                                                                   \
        for (; e < count; e++) {                                                           \
            const uint32_t gap = (step)[e];                                                \
            col += gap;                                                                    \
            if (col >= cols) {                                                             \
                uint32_t q;                                                                \
                *out += sum * unit;                                                        \
                sum = 0;                                                                   \
                DKGEN_DOPE_ROWS_AHEAD(q);                                                  \
                if (q >= left) {                                                           \
                    cursor->entry = e;                                                     \
                    cursor->row = base + (uint32_t)(out - acc) + q;                        \
                    cursor->col = col - gap;                                               \
                    return;                                                                \
                }                                                                          \
                out += q;                                                                  \
                left -= q;                                                                 \
            }                                                                              \
            sum += (int32_t)val[e] * (int32_t)x[col];                                      \
        }                                                                                  \
    } while (0)

void dkgen_dope_matvec_s8_rows(const dkgen_dope_s8_t *s, const int8_t *DKGEN_RESTRICT x,
                               uint32_t rows, dkgen_dope_cursor_t *cursor,
                               int32_t *DKGEN_RESTRICT acc)
{
    const uint32_t cols = s->cols;
    const uint32_t count = s->count;
    const int8_t *val = s->val;
    const int32_t unit = (int32_t)1 << s->shift;
    const uint32_t base = cursor->first_row;
    /* Every entry before the cursor's lies in an earlier block, so the walk stands in
     * this block's rows or just before the next entry, in a later row: r >= 0. */
    const uint32_t r = cursor->row - base;
    uint32_t e = cursor->entry;
    uint32_t col = cursor->col;
    uint32_t left;
    int32_t sum = 0;
    int32_t *out;

    cursor->first_row = base + rows;
    if (cols == 0u || e >= count || r >= rows) {
        return; /* (r >= rows: the next entry lies past this block too) */
    }
    out = acc + r;
    left = rows - r;
    if (s->step8 != NULL) {
        DKGEN_DOPE_WALK_ROWS(s->step8);
    } else {
        DKGEN_DOPE_WALK_ROWS(s->step16);
    }
    *out += sum * unit;
    cursor->entry = count;
    cursor->row = base + (uint32_t)(out - acc);
    cursor->col = col;
}
