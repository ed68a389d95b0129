// See companion.h.
#include "runtime/companion.h"

extern "C" {
#include "commands/extension.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/guc.h"
}

#include <cstring>

namespace kyrodb::pg {
namespace {

ProcessUtility_hook_type previous_utility = nullptr;

bool installed(const char *extension) { return OidIsValid(get_extension_oid(extension, true)); }

// Raises before either script runs: otherwise the second extension fails
// half-way with "type vector already exists", which does not say what to do.
// Returns whether to skip the statement: CREATE EXTENSION IF NOT EXISTS vector
// in a kyrodb database, which frameworks run to make sure the type exists,
// and kyrodb's does (it is pgvector's SQL surface).
bool skip_create_extension(const CreateExtensionStmt *stmt) {
    const char *name = stmt->extname;
    if (stmt->if_not_exists && installed(name)) return false;  // Postgres says it is a no-op
    if (stmt->if_not_exists && strcmp(name, "vector") == 0 && installed("kyrodb")) {
        ereport(NOTICE, (errmsg("extension \"kyrodb\" provides type vector in this database, skipping"),
                         errdetail("kyrodb's vector type has pgvector's operators, functions and formats.")));
        return true;
    }
    if (strcmp(name, "kyrodb") == 0 && installed("vector"))
        ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                        errmsg("extension \"kyrodb\" cannot be installed where extension \"vector\" is"),
                        errdetail("Both define a type named vector; this database uses pgvector's."),
                        errhint("Use CREATE EXTENSION kyrodb_pgvector: the same kyrodb index, on pgvector's type.")));
    if ((strcmp(name, "vector") == 0 || strcmp(name, "kyrodb_pgvector") == 0) && installed("kyrodb"))
        ereport(ERROR,
                (errcode(ERRCODE_DUPLICATE_OBJECT),
                 errmsg("extension \"%s\" cannot be installed where extension \"kyrodb\" is", name),
                 errdetail("kyrodb's own vector type holds the name pgvector's type needs, and kyrodb's "
                           "vector type already works with pgvector's clients, operators and functions."),
                 errhint("Keep using extension kyrodb here, and skip the framework's CREATE EXTENSION vector; "
                         "to move this database to pgvector's type, see \"Coming from pgvector\" in kyrodb's "
                         "README.")));
    return false;
}

void utility(PlannedStmt *pstmt, const char *query, bool read_only_tree, ProcessUtilityContext context,
             ParamListInfo params, QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc) {
    if (IsA(pstmt->utilityStmt, CreateExtensionStmt) &&
        skip_create_extension(reinterpret_cast<const CreateExtensionStmt *>(pstmt->utilityStmt)))
        return;
    if (previous_utility != nullptr)
        previous_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
}

struct PgvectorSetting {
    const char *name;
    const char *hint;
    bool said;
};
PgvectorSetting pgvector_settings[] = {
    {"hnsw.ef_search", "Set kyrodb.ef_search instead.", false},
    {"hnsw.iterative_scan",
     "kyrodb index scans go on past their first rows by themselves until the query has what it asks for.", false},
    {"hnsw.max_scan_tuples", "Set kyrodb.max_scan_tuples instead.", false},
    {"ivfflat.probes", "Set kyrodb.ef_search instead.", false},
    {"ivfflat.iterative_scan",
     "kyrodb index scans go on past their first rows by themselves until the query has what it asks for.", false},
};

}  // namespace

void companion_register() {
    previous_utility = ProcessUtility_hook;
    ProcessUtility_hook = utility;
}

void notice_pgvector_settings() {
    // Setting an unknown custom variable adds a placeholder to the GUC table,
    // so the table's size only changes when there may be a new one to report.
    static int looked_at = -1;
    const int variables = GetNumConfigOptions();
    if (variables == looked_at) return;
    looked_at = variables;
    for (PgvectorSetting &s : pgvector_settings) {
        if (s.said || (GetConfigOptionFlags(s.name, true) & GUC_CUSTOM_PLACEHOLDER) == 0) continue;
        s.said = true;
        ereport(NOTICE, (errmsg("%s has no effect on kyrodb indexes", s.name),
                         errdetail("It is a setting of pgvector, whose library is not loaded in this session."),
                         errhint("%s", s.hint)));
    }
}

}  // namespace kyrodb::pg
