// Crash points (see crash.h) and kyrodb_crash_points(), which lists them so
// that a test can loop over every one.
#include "runtime/crash.h"

#include "runtime/guard.h"

extern "C" {
#include "access/xlog.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

namespace kyrodb::pg {

char *crash_point_setting = nullptr;
int crash_action = kCrashError;
int crash_sleep_ms = 600000;

namespace {

// Every point, with the step it follows.
const char *const kPoints[] = {
    "extend.unrecorded",     // the file grew, the metapage does not know the pages yet
    "stream.claimed",        // pages for a segment stream claimed, not written
    "stream.written",        // a stream written and logged, not published
    "build.published",       // CREATE INDEX published one segment of several
    "flush.collected",       // a flush read a chunk of the hot tier
    "flush.published",       // a flush published one segment and moved the hot tier's head
    "segment.staged",        // a flush or merge copied its new image into the shared pool, not yet published
    "merge.published",       // a merge replaced segments, images not yet dropped
    "insert.append",         // inserted rows buffered by this backend, about to be appended
    "hot_append.linked",     // a record larger than 3 pages linked a page, wrote nothing
    "hot_append.written",    // ... wrote some of its pages, did not publish
    "tombstone.page",        // VACUUM marked the deleted elements of one tombstone page
    "hot_delete.page",       // VACUUM cleared dead hot-tier rows on one page
    "prewarm.loaded",        // prewarm loaded one segment image of several
    "scan.directory_read",   // a scan read the directory and its images, not yet the hot tier
    "pool.loaded",           // an image was copied into the shared pool, not yet marked ready
};

const config_enum_entry kActions[] = {
    {"error", kCrashError, false}, {"panic", kCrashPanic, false}, {"sleep", kCrashSleep, false}, {nullptr, 0, false}};

bool known(const char *name) {
    for (const char *p : kPoints)
        if (strcmp(p, name) == 0) return true;
    return false;
}

bool check_point(char **value, void **, GucSource) {
    if (*value == nullptr || (*value)[0] == '\0' || known(*value)) return true;
    GUC_check_errdetail("Call kyrodb_crash_points() for the list.");
    return false;
}

}  // namespace

void define_crash_settings() {
    DefineCustomStringVariable("kyrodb.crash_point", "Testing only: a step at which kyrodb fails on purpose.",
                               "Empty (the default) turns crash points off; kyrodb_crash_points() lists them.",
                               &crash_point_setting, "", PGC_SUSET, GUC_NOT_IN_SAMPLE, check_point, nullptr,
                               nullptr);
    DefineCustomEnumVariable("kyrodb.crash_action", "Testing only: what reaching kyrodb.crash_point does.",
                             "error raises an ERROR, panic makes the WAL so far durable and PANICs, sleep waits "
                             "kyrodb.crash_sleep (until cancelled where it can be).",
                             &crash_action, kCrashError, kActions, PGC_SUSET, GUC_NOT_IN_SAMPLE, nullptr, nullptr,
                             nullptr);
    DefineCustomIntVariable("kyrodb.crash_sleep", "Testing only: how long crash_action sleep sleeps.", nullptr,
                            &crash_sleep_ms, 600000, 0, INT_MAX, PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_UNIT_MS, nullptr,
                            nullptr, nullptr);
}

void crash_point(const char *name) {
    if (crash_point_setting == nullptr || crash_point_setting[0] == '\0' || strcmp(crash_point_setting, name) != 0)
        return;
    switch (crash_action) {
        case kCrashPanic:
            // As a power cut after the WAL reached disk: what was logged so far is replayed.
            if (!RecoveryInProgress()) XLogFlush(GetXLogInsertRecPtr());
            ereport(PANIC, (errmsg("kyrodb crash point \"%s\" reached", name)));
            break;
        case kCrashSleep:
            ereport(LOG, (errmsg("kyrodb crash point \"%s\" reached, sleeping", name)));
            for (int i = 0; i < crash_sleep_ms / 10; i++) {
                CHECK_FOR_INTERRUPTS();  // a no-op where interrupts are held off (a buffer lock is held)
                pg_usleep(10000);
            }
            break;
        default:
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("kyrodb crash point \"%s\" reached", name)));
    }
}

}  // namespace kyrodb::pg

// kyrodb_crash_points() returns setof text: every crash point.
KYRODB_FUNCTION(kyrodb_crash_points) {
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    for (const char *p : kyrodb::pg::kPoints) {
        Datum value = CStringGetTextDatum(p);
        bool isnull = false;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
    }
    return Datum(0);
}
