#include "kyrodb/vector_text.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace kyrodb {
namespace {

// The same set as isspace() in the C locale, without a locale lookup per byte.
inline bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

inline const char *skip_spaces(const char *p) {
    while (is_space(*p)) ++p;
    return p;
}

ParseResult fail(ParseStatus status, const char *token = nullptr, std::size_t len = 0) {
    return ParseResult{status, 0, token, len};
}

// strtof's grammar, used where from_chars differs from it: hexadecimal
// input and the decision between underflow (accepted) and overflow (rejected).
const char *parse_with_strtof(const char *p, float *value, bool *overflow) {
    char *end;
    errno = 0;
    *value = std::strtof(p, &end);
    *overflow = errno == ERANGE && std::isinf(*value);
    return end;
}

}  // namespace

ParseResult parse_vector_text(const char *s, float *out, int max_dims) {
    const char *const s_end = s + std::char_traits<char>::length(s);
    const char *p = skip_spaces(s);
    if (*p != '[') return fail(ParseStatus::MissingOpenBracket);
    p = skip_spaces(p + 1);
    if (*p == ']') return fail(ParseStatus::NoDimensions);

    int dims = 0;
    for (;;) {
        p = skip_spaces(p);
        if (*p == '\0') return fail(ParseStatus::UnexpectedEnd);
        if (dims == max_dims) return fail(ParseStatus::TooManyDimensions);

        const char *start = p;
        const char *num = (*p == '+' && p[1] != '-' && p[1] != '+') ? p + 1 : p;
        const char *digits = (*num == '-') ? num + 1 : num;
        bool hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');

        float value = 0.0f;
        bool overflow = false;
        const char *end;
        if (hex) {
            end = parse_with_strtof(start, &value, &overflow);
        } else {
            auto r = std::from_chars(num, s_end, value);
            end = r.ptr;
            if (r.ec == std::errc::result_out_of_range)
                end = parse_with_strtof(start, &value, &overflow);
            else if (r.ec != std::errc())
                end = start;
        }
        if (end == start || end == num) return fail(ParseStatus::BadElement);
        if (overflow) return fail(ParseStatus::OutOfRange, start, std::size_t(end - start));
        if (std::isnan(value)) return fail(ParseStatus::NotANumber);
        if (std::isinf(value)) return fail(ParseStatus::Infinite);
        out[dims++] = value;

        p = skip_spaces(end);
        if (*p == ',') {
            ++p;
        } else if (*p == ']') {
            ++p;
            break;
        } else if (*p == '\0') {
            return fail(ParseStatus::UnexpectedEnd);
        } else {
            return fail(ParseStatus::BadElement);
        }
    }
    if (*skip_spaces(p) != '\0') return fail(ParseStatus::JunkAfterClose);
    return ParseResult{ParseStatus::Ok, dims, nullptr, 0};
}

}  // namespace kyrodb
