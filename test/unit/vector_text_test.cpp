#include "kyrodb/vector_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using kyrodb::parse_vector_text;
using kyrodb::ParseStatus;

namespace {

struct Parsed {
    ParseStatus status;
    std::vector<float> values;
    std::string token;
};

Parsed parse(const std::string &s, int max_dims = kyrodb::kMaxDimensions) {
    std::vector<float> out(max_dims);
    auto r = parse_vector_text(s.c_str(), out.data(), max_dims);
    out.resize(r.status == ParseStatus::Ok ? r.dims : 0);
    return {r.status, out, r.token ? std::string(r.token, r.token_len) : std::string()};
}

}  // namespace

TEST(VectorText, ParsesPlainAndSpacedInput) {
    EXPECT_EQ(parse("[1,2,3]").values, (std::vector<float>{1, 2, 3}));
    EXPECT_EQ(parse(" [ 1 ,\t2\n,3 ] \r\n").values, (std::vector<float>{1, 2, 3}));
    EXPECT_EQ(parse("[+1,-2.5,.5,5.]").values, (std::vector<float>{1, -2.5f, 0.5f, 5}));
    EXPECT_EQ(parse("[1e3,1E-2,0x10,-0X1p-2]").values, (std::vector<float>{1000, 0.01f, 16, -0.25f}));
}

TEST(VectorText, KeepsNegativeZeroAndDenormals) {
    auto p = parse("[-0,1e-45]");
    ASSERT_EQ(p.status, ParseStatus::Ok);
    EXPECT_TRUE(std::signbit(p.values[0]));
    EXPECT_EQ(p.values[1], std::nextafter(0.0f, 1.0f));
    // Underflow below the smallest denormal reads as zero, as strtof does.
    p = parse("[1e-50]");
    ASSERT_EQ(p.status, ParseStatus::Ok);
    EXPECT_EQ(p.values[0], 0.0f);
}

TEST(VectorText, RoundsLikeStrtof) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<double> mantissa(-10, 10);
    std::uniform_int_distribution<int> exponent(-40, 38);
    for (int i = 0; i < 20000; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.*e", 5 + i % 15, mantissa(rng) * std::pow(10.0, exponent(rng)));
        float expected = std::strtof(buf, nullptr);
        if (std::isinf(expected)) continue;
        auto p = parse(std::string("[") + buf + "]");
        ASSERT_EQ(p.status, ParseStatus::Ok) << buf;
        ASSERT_EQ(p.values[0], expected) << buf;
    }
}

TEST(VectorText, ReportsEachError) {
    EXPECT_EQ(parse("").status, ParseStatus::MissingOpenBracket);
    EXPECT_EQ(parse("1,2]").status, ParseStatus::MissingOpenBracket);
    EXPECT_EQ(parse("[]").status, ParseStatus::NoDimensions);
    EXPECT_EQ(parse("[ ]").status, ParseStatus::NoDimensions);
    EXPECT_EQ(parse("[").status, ParseStatus::UnexpectedEnd);
    EXPECT_EQ(parse("[1").status, ParseStatus::UnexpectedEnd);
    EXPECT_EQ(parse("[1,").status, ParseStatus::UnexpectedEnd);
    EXPECT_EQ(parse("[1,]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[,1]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[1 2]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[a]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[1e]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[+-1]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[++1]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[+ 1]").status, ParseStatus::BadElement);
    EXPECT_EQ(parse("[nan]").status, ParseStatus::NotANumber);
    EXPECT_EQ(parse("[-NaN]").status, ParseStatus::NotANumber);
    EXPECT_EQ(parse("[inf]").status, ParseStatus::Infinite);
    EXPECT_EQ(parse("[-Infinity]").status, ParseStatus::Infinite);
    EXPECT_EQ(parse("[1,2] x").status, ParseStatus::JunkAfterClose);
    EXPECT_EQ(parse("[1]]").status, ParseStatus::JunkAfterClose);
    auto p = parse("[1, 1e39 ,2]");
    EXPECT_EQ(p.status, ParseStatus::OutOfRange);
    EXPECT_EQ(p.token, "1e39");
    EXPECT_EQ(parse("[-0x1p200]").status, ParseStatus::OutOfRange);
}

TEST(VectorText, EnforcesTheDimensionLimit) {
    EXPECT_EQ(parse("[1,2,3]", 3).status, ParseStatus::Ok);
    EXPECT_EQ(parse("[1,2,3,4]", 3).status, ParseStatus::TooManyDimensions);
    std::string big = "[";
    for (int i = 0; i < kyrodb::kMaxDimensions; i++) big += i ? ",1.5" : "1.5";
    EXPECT_EQ(parse(big + "]").values.size(), size_t(kyrodb::kMaxDimensions));
    EXPECT_EQ(parse(big + ",1]").status, ParseStatus::TooManyDimensions);
}
