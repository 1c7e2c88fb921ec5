/* sizes_main.c - links sizes_table.c into a program (section_sizes test). */
#include <stdint.h>
#include <stdio.h>

float sizes_lookup(uint32_t i);

int main(void)
{
    printf("DKGEN_SIZES %d\n", (int)sizes_lookup(2u));
    return 0;
}
