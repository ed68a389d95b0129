// Postgres headers for C++ translation units of the adapter, in one place.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}
