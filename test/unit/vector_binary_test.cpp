#include "kyrodb/vector_binary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "kyrodb/vector_text.h"

using kyrodb::BinaryResult;
using kyrodb::BinaryStatus;
using kyrodb::decode_vector_binary;

namespace {

void put16(std::vector<uint8_t> *b, uint16_t v) {
    b->push_back(uint8_t(v >> 8));
    b->push_back(uint8_t(v));
}

void put_float(std::vector<uint8_t> *b, float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int shift = 24; shift >= 0; shift -= 8) b->push_back(uint8_t(bits >> shift));
}

// pgvector's send format: what vector_send writes.
std::vector<uint8_t> encode(int dims, int unused, const std::vector<float> &values) {
    std::vector<uint8_t> b;
    put16(&b, uint16_t(dims));
    put16(&b, uint16_t(unused));
    for (float f : values) put_float(&b, f);
    return b;
}

struct Decoded {
    BinaryResult r;
    std::vector<float> values;
};

// Decodes from an exact-size heap copy, so that ASan catches any read past the end.
Decoded decode(const std::vector<uint8_t> &bytes, int expected_dims = -1, int max_dims = kyrodb::kMaxDimensions) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size()]);
    if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
    std::vector<float> out(max_dims);
    Decoded d{decode_vector_binary(copy.get(), bytes.size(), out.data(), max_dims, expected_dims), {}};
    if (d.r.status == BinaryStatus::Ok) d.values.assign(out.begin(), out.begin() + d.r.dims);
    return d;
}

}  // namespace

TEST(VectorBinary, DecodesNetworkOrder) {
    std::vector<float> values = {1.0f, -2.5f, 3e-7f, std::numeric_limits<float>::max(),
                                 std::numeric_limits<float>::denorm_min(), -0.0f};
    Decoded d = decode(encode(6, 0, values));
    ASSERT_EQ(d.r.status, BinaryStatus::Ok);
    EXPECT_EQ(d.r.dims, 6);
    EXPECT_EQ(d.r.consumed, 4u + 6 * 4);
    ASSERT_EQ(d.values.size(), values.size());
    for (std::size_t i = 0; i < values.size(); i++)
        EXPECT_EQ(std::memcmp(&d.values[i], &values[i], sizeof(float)), 0) << i;  // bit for bit, -0 too
}

TEST(VectorBinary, KnownBytes) {
    // [1, 2]: dims 2, unused 0, 0x3f800000, 0x40000000
    std::vector<uint8_t> bytes = {0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0x40, 0, 0, 0};
    Decoded d = decode(bytes);
    ASSERT_EQ(d.r.status, BinaryStatus::Ok);
    EXPECT_EQ(d.values, (std::vector<float>{1.0f, 2.0f}));
}

TEST(VectorBinary, LeavesTrailingBytesUnread) {
    std::vector<uint8_t> bytes = encode(1, 0, {4.0f});
    bytes.push_back(0xAB);
    Decoded d = decode(bytes);
    ASSERT_EQ(d.r.status, BinaryStatus::Ok);
    EXPECT_EQ(d.r.consumed, 8u);  // the caller sees the extra byte and rejects the message
}

TEST(VectorBinary, TruncatedHeader) {
    std::vector<uint8_t> full = encode(1, 0, {1.0f});
    for (std::size_t len = 0; len < 4; len++) {
        Decoded d = decode(std::vector<uint8_t>(full.begin(), full.begin() + len));
        EXPECT_EQ(d.r.status, BinaryStatus::Truncated) << len;
        EXPECT_EQ(d.r.consumed, 0u) << len;
    }
}

TEST(VectorBinary, TruncatedValues) {
    std::vector<uint8_t> full = encode(3, 0, {1.0f, 2.0f, 3.0f});
    for (std::size_t len = 4; len < full.size(); len++) {
        Decoded d = decode(std::vector<uint8_t>(full.begin(), full.begin() + len));
        EXPECT_EQ(d.r.status, BinaryStatus::Truncated) << len;
        EXPECT_EQ(d.r.dims, 3) << len;
        EXPECT_EQ(d.r.consumed, 4 + (len - 4) / 4 * 4) << len;  // whole values read before the short one
    }
}

TEST(VectorBinary, DimensionLimits) {
    EXPECT_EQ(decode(encode(0, 0, {})).r.status, BinaryStatus::NoDimensions);
    Decoded negative = decode(encode(-3, 0, {}));  // int16 in the wire format: 0xfffd
    EXPECT_EQ(negative.r.status, BinaryStatus::NoDimensions);
    EXPECT_EQ(negative.r.dims, -3);
    Decoded too_many = decode(encode(kyrodb::kMaxDimensions + 1, 0, {}));
    EXPECT_EQ(too_many.r.status, BinaryStatus::TooManyDimensions);
    EXPECT_EQ(too_many.r.dims, kyrodb::kMaxDimensions + 1);
    EXPECT_EQ(decode(encode(32767, 0, {})).r.status, BinaryStatus::TooManyDimensions);
    EXPECT_EQ(decode(encode(3, 0, {1, 2, 3}), -1, 2).r.status, BinaryStatus::TooManyDimensions);

    std::vector<float> max_values(kyrodb::kMaxDimensions, 0.5f);
    Decoded max = decode(encode(kyrodb::kMaxDimensions, 0, max_values));
    ASSERT_EQ(max.r.status, BinaryStatus::Ok);
    EXPECT_EQ(max.values, max_values);
}

TEST(VectorBinary, ExpectedDimensions) {
    std::vector<uint8_t> bytes = encode(3, 0, {1, 2, 3});
    EXPECT_EQ(decode(bytes, 3).r.status, BinaryStatus::Ok);
    Decoded wrong = decode(bytes, 4);
    EXPECT_EQ(wrong.r.status, BinaryStatus::WrongDimensions);
    EXPECT_EQ(wrong.r.dims, 3);
}

TEST(VectorBinary, UnusedMustBeZero) {
    Decoded d = decode(encode(1, 7, {1.0f}));
    EXPECT_EQ(d.r.status, BinaryStatus::UnusedNotZero);
    EXPECT_EQ(d.r.unused, 7);
    EXPECT_EQ(decode(encode(1, 0xffff, {1.0f})).r.unused, -1);  // int16, as pgvector prints it
}

// pgvector checks dimensions, then the column's dimensions, then unused, then each value as it
// is read, so an earlier problem is the one reported.
TEST(VectorBinary, ChecksInPgvectorOrder) {
    EXPECT_EQ(decode(encode(0, 5, {}), 2).r.status, BinaryStatus::NoDimensions);
    EXPECT_EQ(decode(encode(2, 5, {1, 2}), 3).r.status, BinaryStatus::WrongDimensions);
    EXPECT_EQ(decode(encode(2, 5, {NAN}), 2).r.status, BinaryStatus::UnusedNotZero);
    EXPECT_EQ(decode(encode(2, 0, {NAN})).r.status, BinaryStatus::NotANumber);  // before the truncation
    EXPECT_EQ(decode(encode(2, 0, {1.0f})).r.status, BinaryStatus::Truncated);
}

TEST(VectorBinary, RejectsNonFinite) {
    Decoded nan = decode(encode(3, 0, {1.0f, NAN, 2.0f}));
    EXPECT_EQ(nan.r.status, BinaryStatus::NotANumber);
    EXPECT_EQ(nan.r.consumed, 12u);
    EXPECT_EQ(decode(encode(2, 0, {1.0f, -INFINITY})).r.status, BinaryStatus::Infinite);
    EXPECT_EQ(decode(encode(1, 0, {INFINITY})).r.status, BinaryStatus::Infinite);
    // a signalling NaN's bits are rejected too
    std::vector<uint8_t> snan = {0, 1, 0, 0, 0x7f, 0x80, 0x00, 0x01};
    EXPECT_EQ(decode(snan).r.status, BinaryStatus::NotANumber);
}
