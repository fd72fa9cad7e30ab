/*
 * ISA-L's own throughput from C, the baseline for Basalt's JMH numbers (ErasureCodecBenchmark,
 * Crc32cBenchmark) on the same machine in the same run. bench/run-ec-bench.sh builds and runs it:
 *   cc -O2 -Wall -o bench/target/ec_bench bench/isal/ec_bench.c -lisal
 *   bench/target/ec_bench [warmup_s] [iterations] [iteration_s] [all|crc|K+M]
 *
 * Same workload and metric as the JMH benchmark: one operation encodes one stripe (k data strips
 * -> m parity strips) or decodes one (m lost data strips rebuilt from the other k, tables
 * precomputed as a cached decode plan would be); GB/s = k * strip bytes * ops / s / 1e9, one
 * thread. Update: the parity-delta write of data strip 0 as Basalt's FFM codec does it, two
 * ec_encode_data_update calls (old data, then new data); GB/s counts that one strip's bytes.
 * CRC32C: crc32_iscsi over 4 KiB blocks of a 1 MiB buffer (one op = 1 MiB).
 * Output: CSV "impl,op,shape,strip_bytes,gb_per_s_mean,gb_per_s_best" over the measured
 * iterations (best: the fastest iteration; on a shared machine interference only slows down).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <isa-l.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *must_alloc(size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, 64, size) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

struct job {
    int k, rows, len;
    unsigned char *tables;
    unsigned char **sources;
    unsigned char **outputs;
};

static volatile unsigned int crc_sink;

static void run_ec(const struct job *job) {
    ec_encode_data(job->len, job->k, job->rows, job->tables, job->sources, job->outputs);
}

/* Runs op for about seconds; returns ops per second. */
static double ops_per_second(void (*op)(const void *), const void *arg, double seconds) {
    long ops = 0;
    long batch = 1;
    double start = now_seconds();
    double elapsed;
    for (;;) {
        for (long i = 0; i < batch; i++)
            op(arg);
        ops += batch;
        elapsed = now_seconds() - start;
        if (elapsed >= seconds)
            break;
        if (batch < 1024)
            batch *= 2;
    }
    return ops / elapsed;
}

static void ec_op(const void *arg) {
    run_ec((const struct job *)arg);
}

struct update_job {
    int k, m, len;
    unsigned char *tables, *old_data, *new_data;
    unsigned char **parity;
};

static void update_op(const void *arg) {
    const struct update_job *job = arg;
    ec_encode_data_update(job->len, job->k, job->m, 0, job->tables, job->old_data, job->parity);
    ec_encode_data_update(job->len, job->k, job->m, 0, job->tables, job->new_data, job->parity);
}

struct crc_job {
    unsigned char *buffer;
    int length;
};

static void crc_op(const void *arg) {
    const struct crc_job *job = arg;
    unsigned int crc = 0;
    for (int off = 0; off < job->length; off += 4096)
        crc ^= crc32_iscsi(job->buffer + off, 4096, 0xFFFFFFFFu);
    crc_sink = crc;
}

struct result {
    double mean, best;
};

static struct result measure(void (*op)(const void *), const void *arg, double warmup,
                             int iterations, double iteration_seconds) {
    ops_per_second(op, arg, warmup);
    struct result r = {0, 0};
    for (int i = 0; i < iterations; i++) {
        double ops = ops_per_second(op, arg, iteration_seconds);
        r.mean += ops / iterations;
        if (ops > r.best)
            r.best = ops;
    }
    return r;
}

int main(int argc, char **argv) {
    double warmup = argc > 1 ? atof(argv[1]) : 1.0;
    int iterations = argc > 2 ? atoi(argv[2]) : 3;
    double iteration_seconds = argc > 3 ? atof(argv[3]) : 1.0;
    static const int shapes[][2] = {{3, 2}, {4, 2}, {8, 3}, {9, 3}};
    const char *what = argc > 4 ? argv[4] : "all";
    static const int strips[] = {4096, 65536, 1048576};

    printf("impl,op,shape,strip_bytes,gb_per_s_mean,gb_per_s_best\n");
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int k = shapes[s][0], m = shapes[s][1], n = k + m;
        char shape[16];
        snprintf(shape, sizeof(shape), "%d+%d", k, m);
        if (strcmp(what, "all") != 0 && strcmp(what, shape) != 0)
            continue;
        for (size_t l = 0; l < sizeof(strips) / sizeof(strips[0]); l++) {
            int len = strips[l];
            unsigned char *matrix = must_alloc(n * k);
            unsigned char *encode_tables = must_alloc(32 * k * m);
            unsigned char *decode_tables = must_alloc(32 * k * m);
            unsigned char *strip[32];
            for (int i = 0; i < n; i++) {
                strip[i] = must_alloc(len);
                for (int b = 0; b < len; b++)
                    strip[i][b] = (unsigned char)rand();
            }
            gf_gen_cauchy1_matrix(matrix, n, k);
            ec_init_tables(k, m, &matrix[k * k], encode_tables);

            struct job encode = {k, m, len, encode_tables, strip, &strip[k]};
            struct result e = measure(ec_op, &encode, warmup, iterations, iteration_seconds);
            printf("isal-c,encode,%d+%d,%d,%.3f,%.3f\n", k, m, len, e.mean * k * len / 1e9,
                   e.best * k * len / 1e9);

            unsigned char *new_data = must_alloc(len);
            memset(new_data, 0x5a, len);
            struct update_job update = {k, m, len, encode_tables, strip[0], new_data, &strip[k]};
            struct result u = measure(update_op, &update, warmup, iterations, iteration_seconds);
            printf("isal-c,updateParity,%d+%d,%d,%.3f,%.3f\n", k, m, len, u.mean * len / 1e9,
                   u.best * len / 1e9);
            free(new_data);

            /* Decode: strips 0..m-1 lost; survivors m..m+k-1; rows of the inverse. */
            unsigned char *b_matrix = must_alloc(k * k);
            unsigned char *inverse = must_alloc(k * k);
            for (int r = 0; r < k; r++)
                memcpy(&b_matrix[r * k], &matrix[(m + r) * k], k);
            if (gf_invert_matrix(b_matrix, inverse, k) != 0) {
                fprintf(stderr, "singular\n");
                return 1;
            }
            ec_init_tables(k, m, inverse, decode_tables);
            struct job decode = {k, m, len, decode_tables, &strip[m], strip};
            struct result d = measure(ec_op, &decode, warmup, iterations, iteration_seconds);
            printf("isal-c,decode,%d+%d,%d,%.3f,%.3f\n", k, m, len, d.mean * k * len / 1e9,
                   d.best * k * len / 1e9);
            fflush(stdout);

            for (int i = 0; i < n; i++)
                free(strip[i]);
            free(matrix);
            free(encode_tables);
            free(decode_tables);
            free(b_matrix);
            free(inverse);
        }
    }

    if (strcmp(what, "all") != 0 && strcmp(what, "crc") != 0)
        return 0;
    struct crc_job crc = {must_alloc(1 << 20), 1 << 20};
    for (int b = 0; b < crc.length; b++)
        crc.buffer[b] = (unsigned char)rand();
    struct result c = measure(crc_op, &crc, warmup, iterations, iteration_seconds);
    printf("isal-c,crc32c-4k-blocks,-,%d,%.3f,%.3f\n", crc.length, c.mean * crc.length / 1e9,
           c.best * crc.length / 1e9);
    free(crc.buffer);
    return 0;
}
