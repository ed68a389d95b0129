// The one boundary between C++ and Postgres.
//
// Postgres reports errors with longjmp, C++ with exceptions; neither may cross
// the other's frames. Every SQL-callable function is defined with
// KYRODB_FUNCTION, and every other callback from Postgres (index AM, heap
// scan) returns guarded([&] { ... }): a C++ exception escaping
// the body is caught, its message copied, the exception destroyed, and only
// then raised as ereport(ERROR). Postgres calls that can ereport while C++
// objects with destructors are live go through pg_call(), which catches the
// Postgres error with PG_TRY and rethrows it as PgError; guarded() re-raises
// it unchanged (code, detail, hint) once the C++ frames have unwound.
//
// Inside a guarded body, calling ereport directly is fine only while no C++
// object with a non-trivial destructor is live in the body's frames.
#pragma once

#include "pg.h"

#include <exception>
#include <new>

namespace kyrodb::pg {

// A Postgres error carried through C++ frames.
struct PgError {
    ErrorData *data;
};

// Raise what guarded() caught; called only after every C++ frame is gone.
[[noreturn]] void raise_caught(ErrorData *pg_error, bool out_of_memory, const char *message);

void pg_call_thunk(void (*thunk)(void *), void *context);

// Run fn, which may ereport; a Postgres error comes back as PgError.
// fn itself must hold no C++ objects with destructors.
template <typename Fn>
void pg_call(Fn &&fn) {
    pg_call_thunk([](void *c) { (*static_cast<Fn *>(c))(); }, &fn);
}

// Runs fn and returns its result; used at every entry from Postgres into
// kyrodb's C++ code (SQL functions, index AM callbacks, scan callbacks).
template <typename Fn>
auto guarded(Fn &&fn) -> decltype(fn()) {
    ErrorData *pg_error = nullptr;
    bool out_of_memory = false;
    char message[256];
    message[0] = '\0';
    try {
        return fn();
    } catch (const PgError &e) {
        pg_error = e.data;
    } catch (const std::bad_alloc &) {
        out_of_memory = true;
    } catch (const std::exception &e) {
        strlcpy(message, e.what(), sizeof message);
    } catch (...) {
        strlcpy(message, "unknown C++ exception", sizeof message);
    }
    raise_caught(pg_error, out_of_memory, message);
}

}  // namespace kyrodb::pg

// Defines the SQL-callable C function NAME with its body guarded.
#define KYRODB_FUNCTION(name)                                                      \
    extern "C" {                                                                   \
    PG_FUNCTION_INFO_V1(name);                                                     \
    }                                                                              \
    static Datum name##_body(FunctionCallInfo fcinfo);                             \
    extern "C" PGDLLEXPORT Datum name(PG_FUNCTION_ARGS) {                          \
        return kyrodb::pg::guarded([fcinfo]() { return name##_body(fcinfo); });    \
    }                                                                              \
    static Datum name##_body(FunctionCallInfo fcinfo)
