// Module entry: the magic block, _PG_init, and the self-test of the error boundary.
#include "guard.h"

#include "kyrodb/distance.h"

#include <new>
#include <stdexcept>

extern "C" {
#include "utils/builtins.h"
}

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

void _PG_init(void) {}

namespace {

// Counts its own constructions and destructions: a destructor skipped by a
// longjmp shows up as a difference.
long live_probes = 0;

struct Probe {
    Probe() { ++live_probes; }
    ~Probe() { --live_probes; }
    Probe(const Probe &) = delete;
    Probe &operator=(const Probe &) = delete;
};

}  // namespace

// kyrodb_debug_guard(mode): raises an error from inside C++ frames that hold a
// live object with a destructor, so that tests can check the backend survives
// and that the destructor ran. Modes: 'cxx' (std::runtime_error), 'oom'
// (std::bad_alloc), 'pg' (a Postgres ereport inside pg_call), and 'count',
// which returns the number of probes still alive (0 when every destructor ran).
KYRODB_FUNCTION(kyrodb_debug_guard) {
    const char *mode = text_to_cstring(PG_GETARG_TEXT_PP(0));
    if (strcmp(mode, "count") == 0) PG_RETURN_INT64(live_probes);
    if (strcmp(mode, "cxx") != 0 && strcmp(mode, "oom") != 0 && strcmp(mode, "pg") != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown mode \"%s\"", mode),
                        errhint("Use one of cxx, oom, pg, count.")));

    Probe probe;
    if (strcmp(mode, "cxx") == 0) throw std::runtime_error("C++ exception raised on purpose");
    if (strcmp(mode, "oom") == 0) throw std::bad_alloc();
    Probe inner;
    kyrodb::pg::pg_call([] { DirectFunctionCall1(int4in, CStringGetDatum("not a number")); });
    PG_RETURN_INT64(live_probes);  // not reached: int4in raised
}

// kyrodb_simd(): the instruction set the distance kernels run with here.
KYRODB_FUNCTION(kyrodb_simd) { PG_RETURN_TEXT_P(cstring_to_text(kyrodb::kernels().name)); }
