/*
 * sizes_table.c - an object with known section sizes for section_sizes():
 * rodata >= 4000 bytes (the table), data >= 4 (the counter), bss >= 400 (the state).
 */
#include <stdint.h>

static const float sizes_table[1000] = {1.0f, 2.0f, 3.0f, 4.0f};
static int32_t sizes_counter = 5;
static float sizes_state[100];

float sizes_lookup(uint32_t i);

float sizes_lookup(uint32_t i)
{
    sizes_counter++;
    sizes_state[i % 100u] += sizes_table[i % 1000u];
    return sizes_state[i % 100u] + (float)sizes_counter;
}
