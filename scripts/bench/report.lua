-- The line every bench script prints when wrk is done, read by scripts/bench.sh:
-- RESULT req/s p50_ms p99_ms non_2xx requests. Loaded with dofile from the repository root.
function done(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1000000),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.requests))
end
