# benchcost.awk reads the output of `go test -bench` (every -count run of every benchmark) and
# prints what the instrumentation adds, from the medians of the same run: make bench prints it
# after benchstat's table. Rows of the issue's targets: collector.Pool over the bare pool,
# pond+Tracker over pond, the Tracker alone against three clock reads and against the
# hand-written client_golang baseline; each pool figure quiet and oversubscribed.
/^Benchmark.* ns\/op/ {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) if ($(i + 1) == "ns/op") { n[name]++; v[name, n[name]] = $i }
}
function median(name,    k, i, j, t, a) {
	k = n[name]
	if (k == 0) return -1
	for (i = 1; i <= k; i++) a[i] = v[name, i]
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
# The ratio column is the oversubscribed added cost over the quiet one, the issue's target
# (<= 2x); the next divides it by how much one clock read itself stretches under the same
# competition (ClockReadOversubscribed / ClockRead), the floor's own stretch: 1.0x means the
# instrumentation slows down under load exactly as much as reading the clock does.
function added(label, base, inst, target,    q, o, r) {
	q = median("Pool/" inst) - median("Pool/" base)
	o = median("PoolOversubscribed/" inst) - median("PoolOversubscribed/" base)
	r = (q > 0 ? o / q : 0)
	printf "| %s | %+.0f ns | %+.0f ns | %.1fx | %.1fx | <= %d ns, <= 2x |\n", label, q, o, r, (stretch > 0 ? r / stretch : 0), target
}
END {
	c = median("ClockRead")
	co = median("ClockReadOversubscribed")
	stretch = (c > 0 ? co / c : 0)
	print "| added per task (medians) | quiet | oversubscribed | ratio | ratio / clock's | target |"
	print "|---|---:|---:|---:|---:|---|"
	added("`collector.Pool` over the bare pool", "bare", "collector.Pool", 150)
	added("pond + `Tracker` over pond alone", "pond", "pond+Tracker", 150)
	printf "| one clock read, the floor's unit | %.0f ns | %.0f ns | %.1fx | 1.0x | |\n", c, co, stretch
	printf "| `Tracker` alone (3 clock reads = %.0f ns) | %.0f ns | | | | <= 100 ns |\n", 3 * c, median("TrackerTask")
	printf "| hand-written client_golang, same task | %.0f ns | | | | baseline |\n", median("HandWrittenTask")
	printf "| `Tracker`, both cores at once / hand-written | %.0f / %.0f ns | | | | |\n", median("TrackerTaskParallel"), median("HandWrittenTaskParallel")
}
