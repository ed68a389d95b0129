// Planner costs. The index only answers ORDER BY distance; its cost is the
// graph search done before the first row (startup) plus, per row, what the
// later stages and at worst an exact scan spend on it. A scan returns every
// row when asked (scan.cpp), so the index is offered whatever the LIMIT: with
// a small or unknown one (a window function, LIMIT $1 in a generic plan) the
// startup cost decides, and without one the planner's heap fetches for every
// row make a sequential scan and sort win, as they should.
//
// Conditions on filter columns are answered inside the search: it returns
// only matching rows, from the graph walk (whose stages widen until LIMIT
// rows match, as they would for a filter applied above the index, which the
// planner does not charge for either) or, for selective filters, from the
// distances of the matching rows only, whichever is cheaper.
#include "index/index.h"

#include <algorithm>
#include <cmath>

extern "C" {
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "utils/float.h"
#include "utils/selfuncs.h"
}

namespace kyrodb::pg {

void cost_estimate(PlannerInfo *root, IndexPath *path, double, Cost *startup, Cost *total,
                   Selectivity *selectivity, double *correlation, double *pages) {
    *selectivity = 1.0;
    *correlation = 0.0;
    *pages = 1.0;
    if (path->indexorderbys == NIL) {
        *startup = *total = get_float8_infinity();
        return;
    }
    double tuples = std::max(path->indexinfo->tuples, 1.0);
    if (path->indexclauses != NIL)
        *selectivity = clauselist_selectivity(root, get_quals_from_indexclauses(path->indexclauses),
                                              path->indexinfo->rel->relid, JOIN_INNER, nullptr);
    const double fraction = std::clamp(*selectivity, 1.0 / tuples, 1.0);
    // HNSW visits about ef * m0 elements per level walked; the images are in
    // memory, so a visit costs a distance computation, not a page read.
    double visits = std::min(tuples, ef_search * 32.0 * std::max(1.0, std::log(tuples) / std::log(16.0)));
    if (path->indexclauses != NIL) visits = std::min(visits, 1.5 * tuples * fraction);  // the matching rows only
    *startup = visits * cpu_operator_cost * 4 + random_page_cost;
    // Every further row: a distance in a wider stage or the exact scan, and
    // its share of sorting them.
    const double rows = tuples * fraction;
    *total = *startup + rows * (cpu_index_tuple_cost + cpu_operator_cost * (4 + std::log2(rows + 1)));
}

}  // namespace kyrodb::pg
