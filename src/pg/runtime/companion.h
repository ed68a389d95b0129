// Living beside pgvector: a database holds kyrodb or kyrodb_pgvector, never
// both, and pgvector's settings do not silently steer a kyrodb index.
#pragma once

#include "pg.h"

namespace kyrodb::pg {

// Installs the check on CREATE EXTENSION (kyrodb next to pgvector's vector
// type, or pgvector next to kyrodb's) that names the extension to use, and
// lets CREATE EXTENSION IF NOT EXISTS vector pass in a kyrodb database.
void companion_register();

// Says once per session, as a NOTICE, that a pgvector setting this session set
// (hnsw.ef_search, ...) does nothing to kyrodb indexes, when pgvector's own
// library has not defined it here (a placeholder set in a kyrodb database).
void notice_pgvector_settings();

}  // namespace kyrodb::pg
