// Operators and functions on vectors: distances (through the core's SIMD
// kernels), element-wise arithmetic, comparison, norms, and the avg/sum
// aggregates. Semantics and error messages follow pgvector.
#include "runtime/guard.h"
#include "type/vector.h"

#include "kyrodb/distance.h"

#include <cmath>

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/float.h"
}

namespace {

struct VectorPair {
    Vector *a;
    Vector *b;
};

VectorPair same_dim_args(FunctionCallInfo fcinfo) {
    VectorPair p{PG_GETARG_VECTOR_P(0), PG_GETARG_VECTOR_P(1)};
    check_same_dims(p.a, p.b);
    return p;
}

void check_no_overflow(const Vector *r) {
    for (int i = 0; i < r->dim; i++)
        if (std::isinf(r->x[i])) float_overflow_error();
}

}  // namespace

// ---- distances ------------------------------------------------------------

KYRODB_FUNCTION(kyrodb_l2_distance) {
    VectorPair p = same_dim_args(fcinfo);
    PG_RETURN_FLOAT8(std::sqrt(static_cast<double>(kyrodb::kernels().l2_squared(p.a->x, p.b->x, p.a->dim))));
}

KYRODB_FUNCTION(kyrodb_vector_l2_squared_distance) {
    VectorPair p = same_dim_args(fcinfo);
    PG_RETURN_FLOAT8(static_cast<double>(kyrodb::kernels().l2_squared(p.a->x, p.b->x, p.a->dim)));
}

KYRODB_FUNCTION(kyrodb_inner_product) {
    VectorPair p = same_dim_args(fcinfo);
    PG_RETURN_FLOAT8(static_cast<double>(kyrodb::kernels().inner_product(p.a->x, p.b->x, p.a->dim)));
}

KYRODB_FUNCTION(kyrodb_vector_negative_inner_product) {
    VectorPair p = same_dim_args(fcinfo);
    PG_RETURN_FLOAT8(-static_cast<double>(kyrodb::kernels().inner_product(p.a->x, p.b->x, p.a->dim)));
}

KYRODB_FUNCTION(kyrodb_cosine_distance) {
    VectorPair p = same_dim_args(fcinfo);
    PG_RETURN_FLOAT8(kyrodb::cosine_distance(p.a->x, p.b->x, p.a->dim));
}

KYRODB_FUNCTION(kyrodb_l1_distance) {
    VectorPair p = same_dim_args(fcinfo);
    PG_RETURN_FLOAT8(static_cast<double>(kyrodb::kernels().l1(p.a->x, p.b->x, p.a->dim)));
}

// ---- properties -----------------------------------------------------------

KYRODB_FUNCTION(kyrodb_vector_dims) {
    Vector *a = PG_GETARG_VECTOR_P(0);
    PG_RETURN_INT32(a->dim);
}

static double norm_of(const Vector *a) {
    double sum = 0.0;  // double, so large components do not overflow
    for (int i = 0; i < a->dim; i++) sum += static_cast<double>(a->x[i]) * a->x[i];
    return std::sqrt(sum);
}

KYRODB_FUNCTION(kyrodb_vector_norm) { PG_RETURN_FLOAT8(norm_of(PG_GETARG_VECTOR_P(0))); }

KYRODB_FUNCTION(kyrodb_l2_normalize) {
    Vector *a = PG_GETARG_VECTOR_P(0);
    Vector *r = new_vector(a->dim);
    double norm = norm_of(a);
    // The zero vector stays zero, as in pgvector.
    if (norm > 0) {
        for (int i = 0; i < a->dim; i++) r->x[i] = static_cast<float>(a->x[i] / norm);
        check_no_overflow(r);
    }
    PG_RETURN_VECTOR_P(r);
}

// subvector(v, start, count): 1-based like substring.
KYRODB_FUNCTION(kyrodb_subvector) {
    Vector *a = PG_GETARG_VECTOR_P(0);
    int32 start = PG_GETARG_INT32(1);
    int32 count = PG_GETARG_INT32(2);
    if (count < 1) check_dim(0);
    // end = start + count without overflow: a->dim - count cannot overflow.
    int32 end = (start > a->dim - count) ? a->dim + 1 : start + count;
    if (start < 1)
        start = 1;
    else if (start > a->dim)
        check_dim(0);
    int dim = end - start;
    check_dim(dim);
    Vector *r = new_vector(dim);
    memcpy(r->x, a->x + (start - 1), sizeof(float) * dim);
    PG_RETURN_VECTOR_P(r);
}

// ---- arithmetic -----------------------------------------------------------

KYRODB_FUNCTION(kyrodb_vector_add) {
    VectorPair p = same_dim_args(fcinfo);
    Vector *r = new_vector(p.a->dim);
    for (int i = 0; i < p.a->dim; i++) r->x[i] = p.a->x[i] + p.b->x[i];
    check_no_overflow(r);
    PG_RETURN_VECTOR_P(r);
}

KYRODB_FUNCTION(kyrodb_vector_sub) {
    VectorPair p = same_dim_args(fcinfo);
    Vector *r = new_vector(p.a->dim);
    for (int i = 0; i < p.a->dim; i++) r->x[i] = p.a->x[i] - p.b->x[i];
    check_no_overflow(r);
    PG_RETURN_VECTOR_P(r);
}

KYRODB_FUNCTION(kyrodb_vector_mul) {
    VectorPair p = same_dim_args(fcinfo);
    Vector *r = new_vector(p.a->dim);
    for (int i = 0; i < p.a->dim; i++) r->x[i] = p.a->x[i] * p.b->x[i];
    check_no_overflow(r);
    for (int i = 0; i < p.a->dim; i++)
        if (r->x[i] == 0 && p.a->x[i] != 0 && p.b->x[i] != 0) float_underflow_error();
    PG_RETURN_VECTOR_P(r);
}

KYRODB_FUNCTION(kyrodb_vector_concat) {
    Vector *a = PG_GETARG_VECTOR_P(0);
    Vector *b = PG_GETARG_VECTOR_P(1);
    check_dim(a->dim + b->dim);
    Vector *r = new_vector(a->dim + b->dim);
    memcpy(r->x, a->x, sizeof(float) * a->dim);
    memcpy(r->x + a->dim, b->x, sizeof(float) * b->dim);
    PG_RETURN_VECTOR_P(r);
}

// ---- comparison (btree) ---------------------------------------------------

// Element by element, then the shorter vector first.
static int compare_vectors(const Vector *a, const Vector *b) {
    int dim = Min(a->dim, b->dim);
    for (int i = 0; i < dim; i++) {
        if (a->x[i] < b->x[i]) return -1;
        if (a->x[i] > b->x[i]) return 1;
    }
    return (a->dim > b->dim) - (a->dim < b->dim);
}

static int compare_args(FunctionCallInfo fcinfo) {
    Vector *a = PG_GETARG_VECTOR_P(0);
    Vector *b = PG_GETARG_VECTOR_P(1);
    int c = compare_vectors(a, b);
    PG_FREE_IF_COPY(a, 0);
    PG_FREE_IF_COPY(b, 1);
    return c;
}

KYRODB_FUNCTION(kyrodb_vector_cmp) { PG_RETURN_INT32(compare_args(fcinfo)); }
KYRODB_FUNCTION(kyrodb_vector_lt) { PG_RETURN_BOOL(compare_args(fcinfo) < 0); }
KYRODB_FUNCTION(kyrodb_vector_le) { PG_RETURN_BOOL(compare_args(fcinfo) <= 0); }
KYRODB_FUNCTION(kyrodb_vector_eq) { PG_RETURN_BOOL(compare_args(fcinfo) == 0); }
KYRODB_FUNCTION(kyrodb_vector_ne) { PG_RETURN_BOOL(compare_args(fcinfo) != 0); }
KYRODB_FUNCTION(kyrodb_vector_ge) { PG_RETURN_BOOL(compare_args(fcinfo) >= 0); }
KYRODB_FUNCTION(kyrodb_vector_gt) { PG_RETURN_BOOL(compare_args(fcinfo) > 0); }

// ---- aggregates: avg and sum ----------------------------------------------
// avg's state is float8[]: {count, sum_1, ..., sum_dim}, summed in double.

static double *state_values(ArrayType *state, const char *caller) {
    if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] < 1 || ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
        elog(ERROR, "%s: expected state array", caller);
    return reinterpret_cast<double *>(ARR_DATA_PTR(state));
}

static ArrayType *new_state(int dim) {
    auto *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (dim + 1)));
    for (int i = 0; i <= dim; i++) elems[i] = Float8GetDatum(0.0);
    ArrayType *a = construct_array(elems, dim + 1, FLOAT8OID, sizeof(double), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
    pfree(elems);
    return a;
}

static void check_state_dims(int state_dim, int dim) {
    if (state_dim != dim)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("different vector dimensions %d and %d", state_dim, dim)));
}

KYRODB_FUNCTION(kyrodb_vector_accum) {
    ArrayType *state = PG_GETARG_ARRAYTYPE_P(0);
    Vector *v = PG_GETARG_VECTOR_P(1);
    double *s = state_values(state, "vector_accum");
    int state_dim = ARR_DIMS(state)[0] - 1;

    // Inside an aggregate the state is ours to update in place; the first
    // row replaces the one-element initial state.
    if (s[0] == 0.0 || !AggCheckCallContext(fcinfo, nullptr)) {
        if (s[0] != 0.0) check_state_dims(state_dim, v->dim);
        ArrayType *fresh = new_state(v->dim);
        double *f = reinterpret_cast<double *>(ARR_DATA_PTR(fresh));
        if (s[0] != 0.0) memcpy(f, s, sizeof(double) * (v->dim + 1));
        state = fresh;
        s = f;
    } else {
        check_state_dims(state_dim, v->dim);
    }
    s[0] += 1.0;
    for (int i = 0; i < v->dim; i++) {
        s[i + 1] += v->x[i];
        if (std::isinf(s[i + 1])) float_overflow_error();
    }
    PG_RETURN_ARRAYTYPE_P(state);
}

KYRODB_FUNCTION(kyrodb_vector_combine) {
    ArrayType *sa = PG_GETARG_ARRAYTYPE_P(0);
    ArrayType *sb = PG_GETARG_ARRAYTYPE_P(1);
    double *a = state_values(sa, "vector_combine");
    double *b = state_values(sb, "vector_combine");
    if (a[0] == 0.0) PG_RETURN_ARRAYTYPE_P(sb);
    if (b[0] == 0.0) PG_RETURN_ARRAYTYPE_P(sa);
    int dim = ARR_DIMS(sa)[0] - 1;
    check_state_dims(dim, ARR_DIMS(sb)[0] - 1);
    ArrayType *r = new_state(dim);
    double *s = reinterpret_cast<double *>(ARR_DATA_PTR(r));
    for (int i = 0; i <= dim; i++) {
        s[i] = a[i] + b[i];
        if (std::isinf(s[i])) float_overflow_error();
    }
    PG_RETURN_ARRAYTYPE_P(r);
}

KYRODB_FUNCTION(kyrodb_vector_avg) {
    ArrayType *state = PG_GETARG_ARRAYTYPE_P(0);
    double *s = state_values(state, "vector_avg");
    if (s[0] == 0.0) PG_RETURN_NULL();  // no rows, as avg of nothing is NULL
    int dim = ARR_DIMS(state)[0] - 1;
    check_dim(dim);
    Vector *r = new_vector(dim);
    for (int i = 0; i < dim; i++) {
        r->x[i] = static_cast<float>(s[i + 1] / s[0]);
        check_element(r->x[i]);
    }
    PG_RETURN_VECTOR_P(r);
}
