// Binary form of a vector (pgvector's send/recv format), decoded without Postgres so that
// arbitrary client bytes are unit-tested and fuzzed: int16 dimensions, int16 unused (must be 0),
// then that many float4 values, all in network byte order.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kyrodb {

// In the order the checks run, which is the order pgvector raises its errors in.
enum class BinaryStatus {
    Ok,
    Truncated,          // the bytes end inside the header or a value
    NoDimensions,       // dimensions < 1
    TooManyDimensions,  // dimensions > max_dims
    WrongDimensions,    // dimensions != expected_dims (when expected_dims != -1)
    UnusedNotZero,      // the unused field is not 0
    NotANumber,         // a value is NaN
    Infinite,           // a value is infinite
};

struct BinaryResult {
    BinaryStatus status;
    int dims;              // from the header (read unless the header is Truncated)
    int unused;            // from the header (the value UnusedNotZero reports)
    std::size_t consumed;  // bytes read: 4 + 4 * dims when Ok
};

// Decodes data[0..len) into out[0..max_dims), reading no byte past len; bytes after the
// vector are left unread (consumed says where it ended). expected_dims is the column's
// dimensions, or -1 for any.
BinaryResult decode_vector_binary(const uint8_t *data, std::size_t len, float *out, int max_dims,
                                  int expected_dims);

}  // namespace kyrodb
