/*
 * Three dkgen libraries in one program (tests/codegen/test_several_libraries.py): two
 * float32 ones, kws and sensor, and an int8 one, q8. Each runs STEPS timesteps of inputs
 * a host can compute exactly and prints its outputs; the test holds them to dkgen's
 * references. It links only if every library's kernels have names of their own.
 */
#include <stdio.h>

#include "kws.h"
#include "q8.h"
#include "sensor.h"

#define STEPS 6u

#define RUN_MODEL(model, MODEL)                                                      \
    do {                                                                             \
        static model##_state_t st;                                                   \
        float x[MODEL##_INPUT_SIZE], y[MODEL##_OUTPUT_SIZE];                         \
        uint32_t t, i;                                                               \
        if (model##_init(&st) != DKGEN_OK) {                                         \
            printf("SEVERAL " #model " init failed\n");                              \
            return 1;                                                                \
        }                                                                            \
        for (t = 0u; t < STEPS; t++) {                                               \
            for (i = 0u; i < MODEL##_INPUT_SIZE; i++) {                              \
                x[i] = (float)((t * 7u + i * 3u) % 17u) / 8.0f - 1.0f;               \
            }                                                                        \
            if (model##_step(&st, x, y) != DKGEN_OK) {                               \
                printf("SEVERAL " #model " step failed\n");                          \
                return 1;                                                            \
            }                                                                        \
            printf("SEVERAL " #model " y");                                          \
            for (i = 0u; i < MODEL##_OUTPUT_SIZE; i++) {                             \
                printf(" %.9e", (double)y[i]);                                       \
            }                                                                        \
            printf("\n");                                                            \
        }                                                                            \
    } while (0)

int main(void)
{
    RUN_MODEL(kws, KWS);
    RUN_MODEL(sensor, SENSOR);
    RUN_MODEL(q8, Q8);
    printf("SEVERAL done\n");
    return 0;
}
