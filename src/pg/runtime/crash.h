// Crash points: named steps between WAL records of every multi-step change
// (build, hot-tier append, flush, merge, publish, page recycling, tombstones,
// prewarm). Inert unless a superuser sets kyrodb.crash_point to one of them;
// then reaching it raises an ERROR, or PANICs with the WAL written so far
// made durable, or sleeps (kyrodb.crash_action). Tests use them to prove that
// every state between two records is one the next statement accepts.
#pragma once

#include "pg.h"

namespace kyrodb::pg {

extern char *crash_point_setting;  // kyrodb.crash_point
extern int crash_action;           // kyrodb.crash_action
extern int crash_sleep_ms;         // kyrodb.crash_sleep
enum CrashAction { kCrashError, kCrashPanic, kCrashSleep };

void define_crash_settings();

// May raise (ERROR or PANIC): call where ereport is allowed.
void crash_point(const char *name);

}  // namespace kyrodb::pg
