// What a pgvector client library does on the wire, done through libpq
// against a running server: vectors sent and received in pgvector's binary
// format (int16 dim, int16 unused, float4 values, network order) and text
// format, as query parameters, results and COPY data.
// Connects with the usual PG* environment variables.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

std::string encode(const std::vector<float> &v) {
    std::string out(4 + 4 * v.size(), '\0');
    uint16_t dim = htons(static_cast<uint16_t>(v.size()));
    std::memcpy(&out[0], &dim, 2);
    for (size_t i = 0; i < v.size(); i++) {
        uint32_t bits;
        std::memcpy(&bits, &v[i], 4);
        bits = htonl(bits);
        std::memcpy(&out[4 + 4 * i], &bits, 4);
    }
    return out;
}

std::vector<float> decode(const char *p, int len) {
    uint16_t dim, unused;
    std::memcpy(&dim, p, 2);
    std::memcpy(&unused, p + 2, 2);
    dim = ntohs(dim);
    EXPECT_EQ(ntohs(unused), 0);
    EXPECT_EQ(len, 4 + 4 * dim);
    std::vector<float> v(dim);
    for (int i = 0; i < dim; i++) {
        uint32_t bits;
        std::memcpy(&bits, p + 4 + 4 * i, 4);
        bits = ntohl(bits);
        std::memcpy(&v[i], &bits, 4);
    }
    return v;
}

std::vector<float> random_vector(std::mt19937 &rng, int dim) {
    std::normal_distribution<float> n(0, 1);
    std::uniform_int_distribution<int> e(-30, 30);
    std::vector<float> v(dim);
    for (auto &x : v) x = n(rng) * std::ldexp(1.0f, e(rng));
    return v;
}

class Wire : public ::testing::Test {
  protected:
    void SetUp() override {
        conn_ = PQconnectdb("dbname=postgres");
        ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
        exec("DROP DATABASE IF EXISTS kyrodb_wire");
        exec("CREATE DATABASE kyrodb_wire");
        PQfinish(conn_);
        conn_ = PQconnectdb("dbname=kyrodb_wire");
        ASSERT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
        exec("CREATE EXTENSION kyrodb");
    }
    void TearDown() override { PQfinish(conn_); }

    void exec(const char *sql) {
        PGresult *r = PQexec(conn_, sql);
        ASSERT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
            << sql << ": " << PQerrorMessage(conn_);
        PQclear(r);
    }

    // SELECT sql with one parameter; returns the single result value.
    PGresult *query(const char *sql, const std::string &param, int param_format, int result_format) {
        const char *values[1] = {param.data()};
        int lengths[1] = {static_cast<int>(param.size())};
        int formats[1] = {param_format};
        return PQexecParams(conn_, sql, 1, nullptr, values, lengths, formats, result_format);
    }

    PGconn *conn_ = nullptr;
};

TEST_F(Wire, BinaryParameterAndBinaryResultRoundTrip) {
    std::mt19937 rng(7);
    for (int dim : {1, 3, 128, 384, 1536, 16000}) {
        auto v = random_vector(rng, dim);
        PGresult *r = query("SELECT $1::vector", encode(v), 1, 1);
        ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn_);
        EXPECT_EQ(decode(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0)), v) << dim;
        PQclear(r);
    }
}

TEST_F(Wire, TextAndBinaryFormatsAgree) {
    std::mt19937 rng(8);
    auto v = random_vector(rng, 384);
    // binary in, text out, text in again, binary out: the same floats
    PGresult *r = query("SELECT $1::vector::text", encode(v), 1, 0);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn_);
    std::string text = PQgetvalue(r, 0, 0);
    PQclear(r);
    r = query("SELECT $1::vector", text, 0, 1);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn_);
    EXPECT_EQ(decode(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0)), v);
    PQclear(r);

    r = query("SELECT $1::vector", "[1.5, -2, 3e-3]", 0, 1);
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    EXPECT_EQ(decode(PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0)), (std::vector<float>{1.5f, -2.0f, 3e-3f}));
    PQclear(r);
}

TEST_F(Wire, BinaryInputErrors) {
    struct Case {
        std::string bytes;
        const char *message;
    };
    std::string nan = encode({NAN});
    std::string bad_unused = encode({1.0f});
    bad_unused[3] = 1;
    std::string short_data = encode({1.0f, 2.0f}).substr(0, 8);
    for (const Case &c : {Case{nan, "NaN not allowed in vector"},
                          Case{encode({INFINITY}), "infinite value not allowed in vector"},
                          Case{bad_unused, "expected unused to be 0, not 1"},
                          Case{std::string(4, '\0'), "vector must have at least 1 dimension"},
                          Case{short_data, "insufficient data left in message"}}) {
        PGresult *r = query("SELECT $1::vector", c.bytes, 1, 1);
        EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
        EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), c.message);
        PQclear(r);
    }
    // the connection is still usable
    PGresult *r = PQexec(conn_, "SELECT '[1]'::vector");
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
}

TEST_F(Wire, BinaryCopyInAndOut) {
    exec("CREATE TABLE items (id int, embedding vector(3))");
    PGresult *r = PQexec(conn_, "COPY items FROM STDIN WITH (FORMAT binary)");
    ASSERT_EQ(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    std::string data("PGCOPY\n\377\r\n\0", 11);
    data.append(8, '\0');  // flags, header extension length
    std::vector<std::vector<float>> rows = {{1, 2, 3}, {-0.5f, 0, 1e-20f}, {3e38f, -3e38f, 7}};
    for (size_t i = 0; i < rows.size(); i++) {
        uint16_t fields = htons(2);
        uint32_t len4 = htonl(4), id = htonl(static_cast<uint32_t>(i + 1));
        std::string vec = encode(rows[i]);
        uint32_t veclen = htonl(static_cast<uint32_t>(vec.size()));
        data.append(reinterpret_cast<char *>(&fields), 2);
        data.append(reinterpret_cast<char *>(&len4), 4);
        data.append(reinterpret_cast<char *>(&id), 4);
        data.append(reinterpret_cast<char *>(&veclen), 4);
        data += vec;
    }
    data.append("\xff\xff", 2);
    ASSERT_EQ(PQputCopyData(conn_, data.data(), static_cast<int>(data.size())), 1);
    ASSERT_EQ(PQputCopyEnd(conn_, nullptr), 1);
    r = PQgetResult(conn_);
    ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conn_);
    PQclear(r);

    r = PQexecParams(conn_, "SELECT embedding FROM items ORDER BY id", 0, nullptr, nullptr, nullptr, nullptr, 1);
    ASSERT_EQ(PQntuples(r), 3);
    for (int i = 0; i < 3; i++) EXPECT_EQ(decode(PQgetvalue(r, i, 0), PQgetlength(r, i, 0)), rows[i]);
    PQclear(r);
    r = PQexec(conn_, "SELECT embedding::text FROM items ORDER BY id");
    EXPECT_STREQ(PQgetvalue(r, 0, 0), "[1,2,3]");
    EXPECT_STREQ(PQgetvalue(r, 1, 0), "[-0.5,0,1e-20]");
    EXPECT_STREQ(PQgetvalue(r, 2, 0), "[3e+38,-3e+38,7]");
    PQclear(r);
}

}  // namespace
