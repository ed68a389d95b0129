// Text form of a vector, "[1,2.5,-3e-2]", parsed without Postgres so that the
// hot COPY path is unit-tested and fast (std::from_chars, not strtof).
#pragma once
#include <cstddef>

namespace kyrodb {

constexpr int kMaxDimensions = 16000;

enum class ParseStatus {
    Ok,
    MissingOpenBracket,  // first non-space character is not '['
    NoDimensions,        // "[]"
    UnexpectedEnd,       // input ended before ']'
    BadElement,          // an element is not a number, or a separator is missing
    OutOfRange,          // a number too large for float (token says which)
    NotANumber,          // "nan"
    Infinite,            // "inf"
    TooManyDimensions,   // more than max_dims elements
    JunkAfterClose,      // something other than spaces after ']'
};

struct ParseResult {
    ParseStatus status;
    int dims;               // elements stored in out (valid when status is Ok)
    const char *token;      // the offending token for OutOfRange
    std::size_t token_len;
};

// Parses s (NUL-terminated) into out[0..max_dims). Accepts what pgvector
// accepts: spaces around elements and brackets, a leading '+', exponents,
// hexadecimal floats; rejects NaN and infinities.
ParseResult parse_vector_text(const char *s, float *out, int max_dims);

}  // namespace kyrodb
