#!/usr/bin/perl
# The peer: Sisimai 4.25 (Debian's libsisimai-perl) on an mbox, JSON out.
#   sisimai.pl dump   MBOX   Sisimai->dump(MBOX): the one documented call, one JSON array
#                            (Sisimai->make gathers every result first, then encodes them all).
#   sisimai.pl stream MBOX   Sisimai::Data::JSON's documented loop: Sisimai::Mail->read one
#                            message at a time, Sisimai::Message->new, Sisimai::Data->make,
#                            one JSON line per result, nothing kept: the same work as make(),
#                            streamed like `mxray explain --json`.
use strict;
use warnings;
use Sisimai;
use Sisimai::Mail;
use Sisimai::Message;
use Sisimai::Data;

my ($mode, $path) = @ARGV;
die "usage: sisimai.pl dump|stream MBOX\n" unless defined $path && -f $path;
binmode STDOUT;

if ($mode eq 'dump') {
    print Sisimai->dump($path), "\n";
} elsif ($mode eq 'stream') {
    my $mail = Sisimai::Mail->new($path) or die "sisimai.pl: cannot open $path\n";
    while (my $r = $mail->data->read) {
        my $mesg = Sisimai::Message->new('data' => $r) or next;
        my $data = Sisimai::Data->make('data' => $mesg, 'origin' => $path);
        print $_->dump('json'), "\n" for @$data;
    }
} else {
    die "usage: sisimai.pl dump|stream MBOX\n";
}
