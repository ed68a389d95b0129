// The vector type: text and binary I/O, type modifier, casts to and from arrays.
#include "runtime/guard.h"
#include "type/vector.h"

#include <cmath>

#include "kyrodb/vector_binary.h"

extern "C" {
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
}

Vector *new_vector(int dim) {
    Size size = vector_size(dim);
    auto *v = static_cast<Vector *>(palloc0(size));
    SET_VARSIZE(v, size);
    v->dim = static_cast<int16>(dim);
    return v;
}

void check_dim(int dim) {
    if (dim < 1)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("vector must have at least 1 dimension")));
    if (dim > VECTOR_MAX_DIM)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("vector cannot have more than %d dimensions", VECTOR_MAX_DIM)));
}

void check_expected_dim(int32 typmod, int dim) {
    if (typmod != -1 && typmod != dim)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected %d dimensions, not %d", typmod, dim)));
}

void check_element(float value) {
    if (std::isnan(value))
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("NaN not allowed in vector")));
    if (std::isinf(value))
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("infinite value not allowed in vector")));
}

void check_same_dims(const Vector *a, const Vector *b) {
    if (a->dim != b->dim)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("different vector dimensions %d and %d", a->dim, b->dim)));
}

static void raise_parse_error(const char *input, const kyrodb::ParseResult &r) {
    using kyrodb::ParseStatus;
    switch (r.status) {
        case ParseStatus::Ok:
            return;
        case ParseStatus::NoDimensions:
            check_dim(0);
            break;
        case ParseStatus::TooManyDimensions:
            check_dim(VECTOR_MAX_DIM + 1);
            break;
        case ParseStatus::NotANumber:
            check_element(NAN);
            break;
        case ParseStatus::Infinite:
            check_element(INFINITY);
            break;
        case ParseStatus::OutOfRange:
            ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
                            errmsg("\"%s\" is out of range for type vector",
                                   pnstrdup(r.token, r.token_len))));
            break;
        case ParseStatus::MissingOpenBracket:
            ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                            errmsg("invalid input syntax for type vector: \"%s\"", input),
                            errdetail("Vector contents must start with \"[\".")));
            break;
        case ParseStatus::UnexpectedEnd:
            ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                            errmsg("invalid input syntax for type vector: \"%s\"", input),
                            errdetail("Unexpected end of input.")));
            break;
        case ParseStatus::BadElement:
            ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                            errmsg("invalid input syntax for type vector: \"%s\"", input)));
            break;
        case ParseStatus::JunkAfterClose:
            ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                            errmsg("invalid input syntax for type vector: \"%s\"", input),
                            errdetail("Junk after closing right brace.")));
            break;
    }
}

// A backend reads one value at a time: vector_in and vector_recv decode into this buffer, then
// make an exact-size copy.
static float decoded[VECTOR_MAX_DIM];

KYRODB_FUNCTION(kyrodb_vector_in) {
    const char *input = PG_GETARG_CSTRING(0);
    int32 typmod = PG_GETARG_INT32(2);

    kyrodb::ParseResult r = kyrodb::parse_vector_text(input, decoded, VECTOR_MAX_DIM);
    raise_parse_error(input, r);
    check_expected_dim(typmod, r.dims);

    Vector *v = new_vector(r.dims);
    memcpy(v->x, decoded, sizeof(float) * r.dims);
    PG_RETURN_VECTOR_P(v);
}

KYRODB_FUNCTION(kyrodb_vector_out) {
    Vector *v = PG_GETARG_VECTOR_P(0);
    // Shortest text that reads back as the same float, as float4out prints it.
    char *buf = static_cast<char *>(palloc(FLOAT_SHORTEST_DECIMAL_LEN * v->dim + 2));
    char *p = buf;
    *p++ = '[';
    for (int i = 0; i < v->dim; i++) {
        if (i > 0) *p++ = ',';
        p += float_to_shortest_decimal_bufn(v->x[i], p);
    }
    *p++ = ']';
    *p = '\0';
    PG_FREE_IF_COPY(v, 0);
    PG_RETURN_CSTRING(buf);
}

KYRODB_FUNCTION(kyrodb_vector_typmod_in) {
    ArrayType *ta = PG_GETARG_ARRAYTYPE_P(0);
    int n;
    int32 *tl = ArrayGetIntegerTypmods(ta, &n);
    if (n != 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid type modifier")));
    if (*tl < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("dimensions for type vector must be at least 1")));
    if (*tl > VECTOR_MAX_DIM)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("dimensions for type vector cannot exceed %d", VECTOR_MAX_DIM)));
    PG_RETURN_INT32(*tl);
}

static void raise_binary_error(int32 typmod, const kyrodb::BinaryResult &r) {
    using kyrodb::BinaryStatus;
    switch (r.status) {
        case BinaryStatus::Ok:
            return;
        case BinaryStatus::Truncated:  // what pq_getmsgint and pq_getmsgfloat4 raise
            ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("insufficient data left in message")));
            break;
        case BinaryStatus::NoDimensions:
        case BinaryStatus::TooManyDimensions:
            check_dim(r.dims);
            break;
        case BinaryStatus::WrongDimensions:
            check_expected_dim(typmod, r.dims);
            break;
        case BinaryStatus::UnusedNotZero:
            ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
                            errmsg("expected unused to be 0, not %d", r.unused)));
            break;
        case BinaryStatus::NotANumber:
            check_element(NAN);
            break;
        case BinaryStatus::Infinite:
            check_element(INFINITY);
            break;
    }
}

// Binary format (pgvector's): int16 dimensions, int16 unused (0), float4 values,
// all in network byte order.
KYRODB_FUNCTION(kyrodb_vector_recv) {
    StringInfo buf = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
    int32 typmod = PG_GETARG_INT32(2);
    kyrodb::BinaryResult r =
        kyrodb::decode_vector_binary(reinterpret_cast<const uint8_t *>(buf->data + buf->cursor),
                                     size_t(buf->len - buf->cursor), decoded, VECTOR_MAX_DIM, typmod);
    // The cursor moves past what was read, as pq_getmsg* would move it, so that the caller's
    // check for trailing bytes ("incorrect binary data format") still holds.
    buf->cursor += r.consumed;
    raise_binary_error(typmod, r);

    Vector *v = new_vector(r.dims);
    memcpy(v->x, decoded, sizeof(float) * r.dims);
    PG_RETURN_VECTOR_P(v);
}

KYRODB_FUNCTION(kyrodb_vector_send) {
    Vector *v = PG_GETARG_VECTOR_P(0);
    StringInfoData buf;
    pq_begintypsend(&buf);
    pq_sendint16(&buf, v->dim);
    pq_sendint16(&buf, v->unused);
    for (int i = 0; i < v->dim; i++) pq_sendfloat4(&buf, v->x[i]);
    PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

// Enforces vector(n) on assignment and explicit casts.
KYRODB_FUNCTION(kyrodb_vector) {
    Vector *v = PG_GETARG_VECTOR_P(0);
    check_expected_dim(PG_GETARG_INT32(1), v->dim);
    PG_RETURN_VECTOR_P(v);
}

KYRODB_FUNCTION(kyrodb_array_to_vector) {
    ArrayType *array = PG_GETARG_ARRAYTYPE_P(0);
    int32 typmod = PG_GETARG_INT32(1);

    if (ARR_NDIM(array) > 1)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("array must be 1-D")));
    if (ARR_HASNULL(array) && array_contains_nulls(array))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("array must not contain nulls")));

    Oid elemtype = ARR_ELEMTYPE(array);
    if (elemtype != INT4OID && elemtype != FLOAT4OID && elemtype != FLOAT8OID && elemtype != NUMERICOID)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("unsupported array type")));

    int16 typlen;
    bool typbyval;
    char typalign;
    get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
    Datum *elems;
    int n;
    deconstruct_array(array, elemtype, typlen, typbyval, typalign, &elems, nullptr, &n);

    check_dim(n);
    check_expected_dim(typmod, n);

    Vector *v = new_vector(n);
    for (int i = 0; i < n; i++) {
        switch (elemtype) {
            case INT4OID:
                v->x[i] = static_cast<float>(DatumGetInt32(elems[i]));
                break;
            case FLOAT4OID:
                v->x[i] = DatumGetFloat4(elems[i]);
                break;
            case FLOAT8OID:
                v->x[i] = static_cast<float>(DatumGetFloat8(elems[i]));
                break;
            default:
                v->x[i] = DatumGetFloat4(DirectFunctionCall1(numeric_float4, elems[i]));
                break;
        }
        check_element(v->x[i]);
    }
    pfree(elems);
    PG_RETURN_VECTOR_P(v);
}

// vector -> element array; each element converted by Postgres's own float4 cast.
static Datum vector_to_array(FunctionCallInfo fcinfo, Oid elemtype, PGFunction convert) {
    Vector *v = PG_GETARG_VECTOR_P(0);
    auto *elems = static_cast<Datum *>(palloc(sizeof(Datum) * v->dim));
    for (int i = 0; i < v->dim; i++) {
        Datum f = Float4GetDatum(v->x[i]);
        elems[i] = convert != nullptr ? DirectFunctionCall1(convert, f) : f;
    }
    int16 typlen;
    bool typbyval;
    char typalign;
    get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
    ArrayType *result = construct_array(elems, v->dim, elemtype, typlen, typbyval, typalign);
    pfree(elems);
    PG_RETURN_POINTER(result);
}

KYRODB_FUNCTION(kyrodb_vector_to_float4) { return vector_to_array(fcinfo, FLOAT4OID, nullptr); }
KYRODB_FUNCTION(kyrodb_vector_to_float8) { return vector_to_array(fcinfo, FLOAT8OID, ftod); }
KYRODB_FUNCTION(kyrodb_vector_to_int4) { return vector_to_array(fcinfo, INT4OID, ftoi4); }
KYRODB_FUNCTION(kyrodb_vector_to_numeric) { return vector_to_array(fcinfo, NUMERICOID, float4_numeric); }
