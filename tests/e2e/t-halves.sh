# A module written in two halves with a pause (a slow linker) is reported
# once, complete; the half-written file is never reported or warned of.
# backends: inotify poll
. tests/e2e/lib.sh

mkso "$ROOT/slow.so" 1
mkso "$T/slow2.so" 2
mkso "$T/slow3.so" 3
v1=$(buildid "$ROOT/slow.so")
v2=$(buildid "$T/slow2.so")
v3=$(buildid "$T/slow3.so")
start -w build

# One open file, a pause longer than the poll interval and settle window.
"$WRITEHALVES" "$T/slow2.so" "$ROOT/slow.so" 300
wait_log " info changed build/slow.so module=slow build-id=$v2 was=$v1\$"

# Closed after the first half and reopened: the close of the partial file
# must not count.
"$WRITEHALVES" -r "$T/slow3.so" "$ROOT/slow.so" 300
wait_log " info changed build/slow.so module=slow build-id=$v3 was=$v2\$"
sync_marker
expect_count ' info changed build/slow\.so' 2
expect_count ' warn ' 0

# The same for a new file, and for a BEAM file.
"$WRITEHALVES" -r "$T/slow2.so" "$ROOT/new.so" 300
wait_log " info added build/new.so module=new build-id=$v2\$"
mkbeam "$T/erlout" half 5
"$WRITEHALVES" -r "$T/erlout/half.beam" "$ROOT/half.beam" 300
wait_log " info added build/half.beam module=half md5=$(vm_md5 "$T/erlout" half)\$"
sync_marker
expect_count ' info \(added\|changed\) build/\(new\.so\|half\.beam\)' 2
expect_count ' warn ' 0
stop

# GNU ld rebuilding in place: the old file is deleted, the new one written
# body first and header last.  The delete makes the daemon look while the
# header is still zeros: that is a file being written, not a bad module.
start -w build
old=$(buildid "$ROOT/slow.so")
mkso "$T/ld.so" 9
v9=$(buildid "$T/ld.so")
rm "$ROOT/slow.so"
perl -e '
	open(my $in, "<:raw", $ARGV[0]) or die; local $/; my $b = <$in>;
	open(my $out, "+>:raw", $ARGV[1]) or die;
	seek($out, 64, 0); print $out substr($b, 64); $out->flush;
	select(undef, undef, undef, 0.5);
	seek($out, 0, 0); print $out substr($b, 0, 64); close($out) or die;
' "$T/ld.so" "$ROOT/slow.so"
wait_log " info changed build/slow.so module=slow build-id=$v9 was=$old\$"
sync_marker
expect_count ' warn ' 0
expect_count ' info \(removed\|added\) build/slow\.so' 0
stop
