#include "kyrodb/vector_binary.h"

#include <cmath>
#include <cstring>

namespace kyrodb {
namespace {

uint16_t read_be16(const uint8_t *p) { return uint16_t(p[0] << 8 | p[1]); }

uint32_t read_be32(const uint8_t *p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

}  // namespace

BinaryResult decode_vector_binary(const uint8_t *data, std::size_t len, float *out, int max_dims,
                                  int expected_dims) {
    BinaryResult r{BinaryStatus::Truncated, 0, 0, 0};
    auto done = [&r](BinaryStatus status) {
        r.status = status;
        return r;
    };
    if (len < 4) return r;
    r.dims = int16_t(read_be16(data));
    r.unused = int16_t(read_be16(data + 2));
    r.consumed = 4;

    if (r.dims < 1) return done(BinaryStatus::NoDimensions);
    if (r.dims > max_dims) return done(BinaryStatus::TooManyDimensions);
    if (expected_dims != -1 && expected_dims != r.dims) return done(BinaryStatus::WrongDimensions);
    if (r.unused != 0) return done(BinaryStatus::UnusedNotZero);

    for (int i = 0; i < r.dims; i++) {
        if (len - r.consumed < 4) return done(BinaryStatus::Truncated);
        uint32_t bits = read_be32(data + r.consumed);
        float value;
        std::memcpy(&value, &bits, sizeof value);
        r.consumed += 4;
        if (std::isnan(value)) return done(BinaryStatus::NotANumber);
        if (std::isinf(value)) return done(BinaryStatus::Infinite);
        out[i] = value;
    }
    return done(BinaryStatus::Ok);
}

}  // namespace kyrodb
