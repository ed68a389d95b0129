// libFuzzer target: kyrodb::parse_vector_text on arbitrary bytes (cut at the first NUL, as a C
// string is). On Ok every value must be finite and the count within the limit; a parse into a
// smaller buffer must agree with it and write nothing past that buffer.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "kyrodb/vector_text.h"

using kyrodb::ParseStatus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    // Exact-size heap buffers, so that ASan sees a read past the terminator or a write past max_dims.
    std::unique_ptr<char[]> text(new char[size + 1]);
    std::memcpy(text.get(), data, size);
    text[size] = '\0';
    std::unique_ptr<float[]> out(new float[kyrodb::kMaxDimensions]);

    kyrodb::ParseResult r = kyrodb::parse_vector_text(text.get(), out.get(), kyrodb::kMaxDimensions);
    if (r.status == ParseStatus::OutOfRange) {
        FUZZ_CHECK(r.token >= text.get() && r.token_len > 0 && r.token + r.token_len <= text.get() + size);
    }
    if (r.status != ParseStatus::Ok) return 0;
    FUZZ_CHECK(r.dims >= 1 && r.dims <= kyrodb::kMaxDimensions);
    for (int i = 0; i < r.dims; i++) FUZZ_CHECK(std::isfinite(out[i]));

    constexpr int kSmall = 4;
    std::unique_ptr<float[]> small(new float[kSmall]);
    kyrodb::ParseResult s = kyrodb::parse_vector_text(text.get(), small.get(), kSmall);
    if (r.dims > kSmall) {
        FUZZ_CHECK(s.status == ParseStatus::TooManyDimensions);
    } else {
        FUZZ_CHECK(s.status == ParseStatus::Ok && s.dims == r.dims);
        FUZZ_CHECK(std::memcmp(small.get(), out.get(), sizeof(float) * r.dims) == 0);
    }
    return 0;
}
