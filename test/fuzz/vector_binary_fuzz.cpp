// libFuzzer target: kyrodb::decode_vector_binary on arbitrary bytes. libFuzzer hands over an
// exact-size heap buffer, so ASan sees any read past its end. On Ok the decoded values must be
// finite and re-encode to the bytes consumed; the column-dimension check must accept exactly dims.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz_check.h"
#include "kyrodb/vector_binary.h"
#include "kyrodb/vector_text.h"

using kyrodb::BinaryStatus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, std::size_t size) {
    std::unique_ptr<float[]> out(new float[kyrodb::kMaxDimensions]);
    kyrodb::BinaryResult r = kyrodb::decode_vector_binary(data, size, out.get(), kyrodb::kMaxDimensions, -1);
    FUZZ_CHECK(r.consumed <= size);
    if (r.status != BinaryStatus::Ok) return 0;

    FUZZ_CHECK(r.dims >= 1 && r.dims <= kyrodb::kMaxDimensions && r.unused == 0);
    FUZZ_CHECK(r.consumed == 4 + 4 * std::size_t(r.dims));
    for (int i = 0; i < r.dims; i++) {
        FUZZ_CHECK(std::isfinite(out[i]));
        uint32_t bits;
        std::memcpy(&bits, &out[i], sizeof bits);
        const uint8_t *p = data + 4 + 4 * i;
        FUZZ_CHECK(p[0] == uint8_t(bits >> 24) && p[1] == uint8_t(bits >> 16) && p[2] == uint8_t(bits >> 8) &&
                   p[3] == uint8_t(bits));
    }

    FUZZ_CHECK(kyrodb::decode_vector_binary(data, size, out.get(), kyrodb::kMaxDimensions, r.dims).status ==
               BinaryStatus::Ok);
    FUZZ_CHECK(kyrodb::decode_vector_binary(data, size, out.get(), kyrodb::kMaxDimensions, r.dims + 1).status ==
               BinaryStatus::WrongDimensions);
    // A buffer of exactly dims floats is enough, and one fewer is refused before any write.
    std::unique_ptr<float[]> exact(new float[r.dims]);
    FUZZ_CHECK(kyrodb::decode_vector_binary(data, size, exact.get(), r.dims, -1).status == BinaryStatus::Ok);
    FUZZ_CHECK(kyrodb::decode_vector_binary(data, size, exact.get(), r.dims - 1, -1).status ==
               BinaryStatus::TooManyDimensions);
    return 0;
}
