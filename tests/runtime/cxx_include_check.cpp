// Compiled by tests/runtime/test_runtime_compile.py: every runtime header must be
// includable from C++ (extern "C" linkage, no C-only keywords leaking through).
#include "dkgen_activation_f32.h"
#include "dkgen_common.h"
#include "dkgen_csr_matvec_f32.h"
#include "dkgen_dense_matvec_f32.h"
#include "dkgen_gru_cell_f32.h"
#include "dkgen_kron_matvec_f32.h"
#include "dkgen_lstm_cell_f32.h"
#include "dkgen_vector_f32.h"

static const float kA[1] DKGEN_WEIGHTS_SECTION DKGEN_ALIGNED(8) = {2.0f};
static const float kB[1] DKGEN_WEIGHTS_SECTION DKGEN_ALIGNED(8) = {3.0f};

// Taking each kernel's address as a typed C function pointer checks that the
// declarations have C linkage and the documented signatures.
extern "C" {
typedef void (*dense_fn)(const float *, uint32_t, uint32_t, const float *, float *);
typedef void (*kron_fn)(const dkgen_kron_f32_t *, const float *, float *, float *);
typedef uint32_t (*kron_size_fn)(const dkgen_kron_f32_t *);
typedef void (*csr_fn)(const dkgen_csr_f32_t *, const float *, float *);
typedef float (*scalar_fn)(float);
typedef void (*softmax_fn)(const float *, float *, uint32_t);
typedef uint32_t (*argmax_fn)(const float *, uint32_t);
typedef void (*copy_fn)(const float *, float *, uint32_t);
typedef void (*zero_fn)(float *, uint32_t);
typedef void (*lstm_fn)(uint32_t, const float *, float *, float *);
typedef void (*gru_fn)(uint32_t, const float *, const float *, float *);
}

int main()
{
    dense_fn dense = &dkgen_dense_matvec_f32;
    kron_fn kron = &dkgen_kron_matvec_f32;
    kron_size_fn kron_size = &dkgen_kron_matvec_f32_get_buffer_size;
    csr_fn csr = &dkgen_csr_matvec_f32;
    scalar_fn sigmoid = &dkgen_sigmoid_f32;
    scalar_fn tanh_ = &dkgen_tanh_f32;
    softmax_fn softmax = &dkgen_softmax_f32;
    argmax_fn argmax = &dkgen_argmax_f32;
    copy_fn copy = &dkgen_copy_f32;
    copy_fn add = &dkgen_add_f32;
    zero_fn zero = &dkgen_zero_f32;
    lstm_fn lstm = &dkgen_lstm_cell_f32;
    gru_fn gru = &dkgen_gru_cell_f32;
    dkgen_kron_f32_t k = {kA, kB, 1, 1, 1, 1, DKGEN_KRON_ORDER_AX};
    dkgen_status_t st = DKGEN_OK;
    const void *all[] = {
        reinterpret_cast<const void *>(dense),   reinterpret_cast<const void *>(kron),
        reinterpret_cast<const void *>(kron_size), reinterpret_cast<const void *>(csr),
        reinterpret_cast<const void *>(sigmoid), reinterpret_cast<const void *>(tanh_),
        reinterpret_cast<const void *>(softmax), reinterpret_cast<const void *>(argmax),
        reinterpret_cast<const void *>(copy),    reinterpret_cast<const void *>(add),
        reinterpret_cast<const void *>(zero),    reinterpret_cast<const void *>(lstm),
        reinterpret_cast<const void *>(gru),
    };
    return (all[0] != nullptr && k.order == DKGEN_KRON_ORDER_AX && st == DKGEN_OK) ? 0 : 1;
}
