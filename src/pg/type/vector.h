// The vector datum: the same in-memory layout and limits as pgvector, so that
// its binary format and every client library work unchanged.
#pragma once

#include "pg.h"

#include "kyrodb/vector_text.h"

struct Vector {
    int32 vl_len_;  // varlena header, never touched directly
    int16 dim;
    int16 unused;   // always 0
    float x[FLEXIBLE_ARRAY_MEMBER];
};

constexpr int VECTOR_MAX_DIM = kyrodb::kMaxDimensions;

inline Size vector_size(int dim) { return offsetof(Vector, x) + sizeof(float) * dim; }

inline Vector *datum_get_vector(Datum d) { return reinterpret_cast<Vector *>(PG_DETOAST_DATUM(d)); }
#define PG_GETARG_VECTOR_P(n) datum_get_vector(PG_GETARG_DATUM(n))
#define PG_RETURN_VECTOR_P(v) PG_RETURN_POINTER(v)

Vector *new_vector(int dim);

// Checks that raise pgvector's errors.
void check_dim(int dim);
void check_expected_dim(int32 typmod, int dim);
void check_element(float value);
void check_same_dims(const Vector *a, const Vector *b);
