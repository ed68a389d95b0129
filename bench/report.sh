#!/usr/bin/env bash
# bench/report.sh DIR: turns DIR/results.jsonl (one figure a line, written by
# the driver and bench/run.sh) into DIR/summary.md and PNG plots:
# recall@10 against queries per second, and latency percentiles, per data set.
set -euo pipefail
dir=${1:?usage: bench/report.sh RESULTS_DIR}
cd "$dir"

perl -MJSON::PP -e '
use strict; use warnings;
my $machine = decode_json(do { local $/; open my $f, "<", "machine.json" or die; <$f> });
my (%v, %sets);
open my $in, "<", "results.jsonl" or die "results.jsonl: $!";
while (<$in>) {
    next unless /^\{/;
    my $r = decode_json($_);
    my $ef = defined $r->{ef_search} ? $r->{ef_search} : "-";
    my $key = join "|", $r->{dataset}, $r->{phase}, $r->{system}, $ef, $r->{connections} // 1, $r->{figure};
    $v{$key} = $r->{value};
    # the driver names dim and metric; the recovery lines of run.sh do not
    $sets{$r->{dataset}} = "$r->{n} x $r->{dim} $r->{metric}" if defined $r->{dim};
}
sub get { my $x = $v{join "|", @_}; defined $x ? $x : undef }
sub fmt { my ($x, $d) = @_; defined $x ? sprintf("%.${d}f", $x) : "-" }

open my $md, ">", "summary.md" or die;
printf $md "# kyrodb benchmark\n\ncommit %s, %s, profile %s; %s, %d cores, %s, %s, huge pages %s; "
    . "index m 16, ef_construction %d\n\n",
    @$machine{qw(commit date profile cpu cores memory postgres)}, $machine->{huge_pages} // "off",
    $machine->{ef_construction} // 64;
for my $ds (sort keys %sets) {
    print $md "## $ds ($sets{$ds})\n\n";
    my %efs = map { (split /\|/)[3] => 1 } grep { /^\Q$ds\E\|search\|kyrodb\|\d/ } keys %v;
    if (%efs) {  # none without a search phase (PROFILE=fixed)
        print $md "| ef_search | recall\@10 | QPS 1 conn | QPS 2 conn | p50 ms | p95 ms | p99 ms | hnswlib recall\@10 | hnswlib QPS | p99 ms 2 conn |\n";
        print $md "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
        open my $dat, ">", "$ds.dat" or die;
        print $dat "# ef recall qps1 qps2 p50 p95 p99 hnsw_recall hnsw_qps\n";
        for my $ef (sort { $a <=> $b } keys %efs) {
            my @row = (get($ds, "search", "kyrodb", $ef, 1, "recall\@10"), get($ds, "search", "kyrodb", $ef, 1, "qps"),
                       get($ds, "search", "kyrodb", $ef, 2, "qps"), get($ds, "search", "kyrodb", $ef, 1, "p50_ms"),
                       get($ds, "search", "kyrodb", $ef, 1, "p95_ms"), get($ds, "search", "kyrodb", $ef, 1, "p99_ms"),
                       get($ds, "search", "hnswlib", $ef, 1, "recall\@10"), get($ds, "search", "hnswlib", $ef, 1, "qps"));
            printf $md "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $ef, fmt($row[0], 4), fmt($row[1], 0),
                fmt($row[2], 0), fmt($row[3], 3), fmt($row[4], 3), fmt($row[5], 3), fmt($row[6], 4), fmt($row[7], 0),
                fmt(get($ds, "search", "kyrodb", $ef, 2, "p99_ms"), 3);
            print $dat join(" ", $ef, map { defined $_ ? $_ : "NaN" } @row), "\n";
        }
    }
    print $md "\n| figure | value |\n| --- | --- |\n";
    for my $k (sort grep { /^\Q$ds\E\|/ && !/^\Q$ds\E\|search\|(kyrodb|hnswlib)\|/ } keys %v) {
        my (undef, $phase, $system, $ef, $conns, $figure) = split /\|/, $k;
        my $what = "$phase, $system" . ($ef ne "-" ? ", ef_search $ef" : "") . ($conns > 1 ? ", $conns connections" : "");
        printf $md "| %s: %s | %s |\n", $what, $figure, fmt($v{$k}, $v{$k} =~ /\./ && abs($v{$k}) < 100 ? 4 : 0);
    }
    print $md %efs ? "\n![recall against QPS]($ds-recall-qps.png) ![latency]($ds-latency.png)\n\n" : "\n";
}
' 

if command -v gnuplot >/dev/null; then
    for dat in *.dat; do
        [ -e "$dat" ] || continue  # a run without the driver (PROFILE=fixed) has none
        ds=${dat%.dat}
        gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set datafile missing "NaN"
set grid
set key bottom left
set output "$ds-recall-qps.png"
set title "$ds: recall@10 against queries per second (higher and further right is better)"
set xlabel "recall@10"
set ylabel "queries per second"
set logscale y
plot "$dat" using 2:3 with linespoints title "kyrodb, 1 connection", \
     "$dat" using 2:4 with linespoints title "kyrodb, 2 connections", \
     "$dat" using 8:9 with linespoints title "hnswlib in-process, 1 thread"
set output "$ds-latency.png"
set title "$ds: kyrodb latency, 1 connection"
set xlabel "ef_search"
set ylabel "milliseconds"
unset logscale y
set logscale x
plot "$dat" using 1:5 with linespoints title "p50", "$dat" using 1:6 with linespoints title "p95", \
     "$dat" using 1:7 with linespoints title "p99"
GP
    done
fi
cat summary.md
