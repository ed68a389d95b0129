// Writes vectors as COPY text rows "id<TAB>[x,y,...]" for tests and benchmarks.
//
//   datagen synthetic N DIM SEED   embedding-like data (../shared/DATA.md): a Gaussian mixture of
//                                  1,000 centres in a latent space of dimension 24, each with its
//                                  own width in [0.25, 0.6], projected to DIM by a fixed random
//                                  matrix with N(0, 1/24) entries, plus N(0, 0.05^2) noise. The
//                                  centres and the projection depend on DIM only; SEED picks the
//                                  points, so base and query sets share one distribution.
//   datagen idx FILE [LIMIT]       IDX images (optionally gzip'd, as in the fashion-mnist
//                                  package): each image as a vector of its bytes.
//   datagen bin FILE DIM           raw little-endian float32 vectors.
// Ids start at 1.
#include "driver_data.h"  // first: it includes <random> its own way

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace {

void write_row(uint64_t id, const float *v, size_t dim, std::string &line) {
    line.clear();
    line += std::to_string(id);
    line += "\t[";
    char buf[32];
    for (size_t i = 0; i < dim; i++) {
        if (i > 0) line += ',';
        line.append(buf, static_cast<size_t>(snprintf(buf, sizeof buf, "%.7g", v[i])));
    }
    line += "]\n";
    fwrite(line.data(), 1, line.size(), stdout);
}

int synthetic(uint64_t n, size_t dim, uint64_t seed) {
    std::vector<float> rows = kyrodb_bench::synthetic(n, dim, seed);
    std::string line;
    for (uint64_t id = 1; id <= n; id++) write_row(id, &rows[(id - 1) * dim], dim, line);
    return 0;
}

FILE *open_maybe_gzip(const std::string &path) {
    if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0)
        return popen(("gzip -dc '" + path + "'").c_str(), "r");
    return fopen(path.c_str(), "rb");
}

uint32_t be32(const unsigned char *p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

int idx(const std::string &path, uint64_t limit) {
    FILE *f = open_maybe_gzip(path);
    unsigned char header[16];
    if (f == nullptr || fread(header, 1, 16, f) != 16 || be32(header) != 0x00000803) {
        fprintf(stderr, "datagen: %s is not an IDX image file\n", path.c_str());
        return 1;
    }
    uint64_t count = be32(header + 4);
    size_t dim = size_t(be32(header + 8)) * be32(header + 12);
    if (limit > 0 && limit < count) count = limit;
    std::vector<unsigned char> raw(dim);
    std::vector<float> v(dim);
    std::string line;
    for (uint64_t id = 1; id <= count; id++) {
        if (fread(raw.data(), 1, dim, f) != dim) {
            fprintf(stderr, "datagen: %s ends early\n", path.c_str());
            return 1;
        }
        for (size_t i = 0; i < dim; i++) v[i] = raw[i];
        write_row(id, v.data(), dim, line);
    }
    return 0;
}

int bin(const std::string &path, size_t dim) {
    FILE *f = fopen(path.c_str(), "rb");
    if (f == nullptr) {
        fprintf(stderr, "datagen: cannot open %s\n", path.c_str());
        return 1;
    }
    std::vector<float> v(dim);
    std::string line;
    for (uint64_t id = 1; fread(v.data(), sizeof(float), dim, f) == dim; id++) write_row(id, v.data(), dim, line);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "synthetic" && argc == 5)
        return synthetic(std::strtoull(argv[2], nullptr, 10), std::strtoull(argv[3], nullptr, 10),
                         std::strtoull(argv[4], nullptr, 10));
    if (mode == "idx" && (argc == 3 || argc == 4)) return idx(argv[2], argc == 4 ? std::strtoull(argv[3], nullptr, 10) : 0);
    if (mode == "bin" && argc == 4) return bin(argv[2], std::strtoull(argv[3], nullptr, 10));
    fprintf(stderr, "usage: datagen synthetic N DIM SEED | datagen idx FILE [LIMIT] | datagen bin FILE DIM\n");
    return 2;
}
