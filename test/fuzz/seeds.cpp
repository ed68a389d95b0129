// Writes the seed inputs of the fuzz targets into DIR/<target>/seed-*: a few vectors in text and
// binary form and a few segment images made by build_segment (deterministic: one build thread).
// Run once to start a corpus (make fuzz-seeds); make fuzz minimizes them together with what it finds.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "kyrodb/hnsw.h"

namespace {

void write(const std::string &path, const void *bytes, std::size_t size) {
    std::ofstream f(path, std::ios::binary);
    f.write(static_cast<const char *>(bytes), std::streamsize(size));
    if (!f) {
        std::perror(path.c_str());
        std::exit(1);
    }
}

// pgvector's send format: int16 dims, int16 unused, float4 values, network byte order.
std::vector<uint8_t> encode_binary(const std::vector<float> &values) {
    std::vector<uint8_t> b = {uint8_t(values.size() >> 8), uint8_t(values.size()), 0, 0};
    for (float f : values) {
        uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        for (int shift = 24; shift >= 0; shift -= 8) b.push_back(uint8_t(bits >> shift));
    }
    return b;
}

std::vector<uint8_t> segment(kyrodb::Metric metric, uint32_t dim, uint32_t m, std::size_t n) {
    std::mt19937 rng(n * 131 + dim);
    std::normal_distribution<float> normal;
    std::vector<float> vectors(n * dim);
    for (float &x : vectors) x = normal(rng);
    for (std::size_t i = 0; i < n; i++) kyrodb::prepare_vector(metric, &vectors[i * dim], dim);
    std::vector<uint64_t> payloads(n);
    for (std::size_t i = 0; i < n; i++) payloads[i] = (uint64_t(i) << 16) | 1;
    kyrodb::BuildParams p{metric, dim};
    p.m = m;
    p.ef_construction = 16;
    p.threads = 1;
    return kyrodb::build_segment(p, vectors.data(), payloads.data(), n, nullptr);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    for (const char *target : {"vector_text", "vector_binary", "segment"})
        std::filesystem::create_directories(dir + "/" + target);

    const char *texts[] = {"[1,2,3]", " [ -1.5e-3 , +2,0x1p-3 ] ", "[3.4028235e38,1e-45,-0]", "[0.1]"};
    for (std::size_t i = 0; i < std::size(texts); i++)
        write(dir + "/vector_text/seed-" + std::to_string(i), texts[i], std::strlen(texts[i]));

    const std::vector<float> binaries[] = {{1, 2, 3}, {0.5f}, {-0.0f, 1e-45f, 3.4028235e38f, -7.25f}};
    for (std::size_t i = 0; i < std::size(binaries); i++) {
        std::vector<uint8_t> b = encode_binary(binaries[i]);
        write(dir + "/vector_binary/seed-" + std::to_string(i), b.data(), b.size());
    }

    struct Shape {
        kyrodb::Metric metric;
        uint32_t dim, m;
        std::size_t n;
    };
    // Small m gives several levels even with few elements.
    const Shape shapes[] = {{kyrodb::Metric::L2, 3, 2, 0},
                            {kyrodb::Metric::InnerProduct, 2, 2, 1},
                            {kyrodb::Metric::L2, 2, 2, 24},
                            {kyrodb::Metric::Cosine, 4, 3, 40},
                            {kyrodb::Metric::InnerProduct, 3, 4, 60}};
    for (std::size_t i = 0; i < std::size(shapes); i++) {
        const Shape &s = shapes[i];
        std::vector<uint8_t> image = segment(s.metric, s.dim, s.m, s.n);
        write(dir + "/segment/seed-" + std::to_string(i), image.data(), image.size());
    }
    return 0;
}
