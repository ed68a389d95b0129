#!/usr/bin/perl
# Joins raw little-endian float32 embeddings with their JSON-lines records
# (same order) into COPY text rows: id, title, category, body, embedding.
use strict;
use warnings;
use JSON::PP;

my ($bin, $jsonl, $dims) = @ARGV;
die "usage: $0 embeddings.bin records.jsonl dims\n" unless $dims;
open my $vf, '<:raw', $bin or die "$bin: $!\n";
open my $rf, '<:encoding(UTF-8)', $jsonl or die "$jsonl: $!\n";
binmode STDOUT, ':encoding(UTF-8)';

sub copy_text {
    my $s = shift // '';
    $s =~ s/\\/\\\\/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    return $s;
}

my $json = JSON::PP->new;
my $id = 0;
while (my $line = <$rf>) {
    my $rec = $json->decode($line);
    my $n = read($vf, my $raw, 4 * $dims);
    die "embeddings end before record $id\n" unless $n == 4 * $dims;
    # %.9g reads back as the same float32
    my $vec = '[' . join(',', map { sprintf('%.9g', $_) } unpack('f<*', $raw)) . ']';
    $id++;
    print join("\t", $id, copy_text($rec->{title}), copy_text($rec->{category}),
               copy_text($rec->{content}), $vec), "\n";
}
die "more embeddings than records\n" if read($vf, my $rest, 1);
