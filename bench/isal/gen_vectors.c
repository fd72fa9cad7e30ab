/*
 * Known-answer vectors for Basalt's Reed-Solomon codec, computed by ISA-L itself.
 *
 * Build and run (needs libisal-dev; CI does not, the output is committed):
 *   cc -O2 -Wall -o /tmp/gen_vectors bench/isal/gen_vectors.c -lisal
 *   /tmp/gen_vectors > ec/src/test/resources/io/basalt/ec/isal-vectors.txt
 *
 * For each k+m shape: the gf_gen_cauchy1_matrix encode matrix, pseudo-random data strips
 * (xorshift32, seeded per case, so the file is reproducible), the parity from ec_encode_data,
 * the parity after a parity-delta update of one data strip (ec_encode_data_update applied to
 * old XOR new data), and the decode rows gf_invert_matrix gives for losing strips 0..m-1
 * (survivors m..m+k-1). Every byte string is lower-case hex.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <isa-l.h>

static unsigned int rng_state;

static unsigned char next_byte(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (unsigned char)(rng_state >> 24);
}

static void print_hex(const char *label, int index, const unsigned char *bytes, int length) {
    if (index >= 0)
        printf("%s %d ", label, index);
    else
        printf("%s ", label);
    for (int i = 0; i < length; i++)
        printf("%02x", bytes[i]);
    printf("\n");
}

static void *must_alloc(size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, 64, size) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    memset(p, 0, size);
    return p;
}

static void one_case(int k, int m, int len, unsigned int seed) {
    int n = k + m;
    unsigned char *matrix = must_alloc(n * k);
    unsigned char *tables = must_alloc(32 * k * m);
    unsigned char *strips[32];
    unsigned char *updated[32];
    for (int i = 0; i < n; i++) {
        strips[i] = must_alloc(len);
        updated[i] = must_alloc(len);
    }
    rng_state = seed;
    for (int i = 0; i < k; i++)
        for (int b = 0; b < len; b++)
            strips[i][b] = next_byte();

    gf_gen_cauchy1_matrix(matrix, n, k);
    ec_init_tables(k, m, &matrix[k * k], tables);
    ec_encode_data(len, k, m, tables, strips, &strips[k]);

    printf("case k=%d m=%d len=%d\n", k, m, len);
    print_hex("matrix", -1, matrix, n * k);
    for (int i = 0; i < k; i++)
        print_hex("data", i, strips[i], len);
    for (int p = 0; p < m; p++)
        print_hex("parity", p, strips[k + p], len);

    /* Parity-delta update of data strip u: parity ^= coefficient * (old ^ new). */
    int u = (int)(seed % (unsigned int)k);
    unsigned char *new_data = must_alloc(len);
    unsigned char *delta = must_alloc(len);
    for (int b = 0; b < len; b++) {
        new_data[b] = next_byte();
        delta[b] = strips[u][b] ^ new_data[b];
    }
    for (int p = 0; p < m; p++)
        memcpy(updated[p], strips[k + p], len);
    ec_encode_data_update(len, k, m, u, tables, delta, updated);
    printf("update_index %d\n", u);
    print_hex("update_data", -1, new_data, len);
    for (int p = 0; p < m; p++)
        print_hex("update_parity", p, updated[p], len);

    /* Decode rows for erased strips 0..m-1 from survivors m..m+k-1. */
    unsigned char *b_matrix = must_alloc(k * k);
    unsigned char *inverse = must_alloc(k * k);
    for (int r = 0; r < k; r++)
        memcpy(&b_matrix[r * k], &matrix[(m + r) * k], k);
    if (gf_invert_matrix(b_matrix, inverse, k) != 0) {
        fprintf(stderr, "singular decode matrix for k=%d m=%d\n", k, m);
        exit(1);
    }
    printf("decode_erased %d\n", m);
    print_hex("decode_rows", -1, inverse, m * k);
    printf("end\n");

    free(matrix);
    free(tables);
    free(new_data);
    free(delta);
    free(b_matrix);
    free(inverse);
    for (int i = 0; i < n; i++) {
        free(strips[i]);
        free(updated[i]);
    }
}

int main(void) {
    static const int shapes[][2] = {
        {2, 1}, {3, 2}, {4, 2}, {6, 3}, {8, 3}, {9, 3}, {10, 4}, {16, 4}, {20, 12}, {28, 4}};
    static const int lengths[] = {64, 192};
    printf("# Reed-Solomon known-answer vectors computed by ISA-L %d.%d.%d\n",
           ISAL_MAJOR_VERSION, ISAL_MINOR_VERSION, ISAL_PATCH_VERSION);
    printf("# made by bench/isal/gen_vectors.c (see its header); do not edit by hand\n");
    unsigned int seed = 0x9E3779B9u;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
            one_case(shapes[s][0], shapes[s][1], lengths[l], seed);
            seed = seed * 2654435761u + 12345u;
            if (seed == 0)
                seed = 1;
        }
    }
    return 0;
}
