#include "runtime/guard.h"

#include <exception>

extern "C" {
#include "utils/memutils.h"
}

namespace kyrodb::pg {

void raise_caught(ErrorData *pg_error, bool out_of_memory, const char *message) {
    if (pg_error != nullptr) ReThrowError(pg_error);
    if (out_of_memory)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory"),
                        errdetail("kyrodb could not allocate memory for a C++ object.")));
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("kyrodb internal error: %s", message)));
    pg_unreachable();
}

void pg_call_thunk(void (*thunk)(void *), void *context) {
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData *error = nullptr;
    std::exception_ptr thrown;
    PG_TRY();
    {
        // A C++ exception must not unwind through PG_TRY: PG_exception_stack
        // would be left pointing at this dead frame. Catch it here and rethrow
        // it once PG_END_TRY has restored the stack.
        try {
            thunk(context);
        } catch (...) {
            thrown = std::current_exception();
        }
    }
    PG_CATCH();
    {
        // Copy the error out of ErrorContext so it survives FlushErrorState.
        MemoryContextSwitchTo(caller_context);
        error = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    if (error != nullptr) throw PgError{error};
    if (thrown) std::rethrow_exception(thrown);
}

}  // namespace kyrodb::pg
