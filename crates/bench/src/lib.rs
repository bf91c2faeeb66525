//! Benchmarks of promhttp; see `benches/` and BENCHMARKS.md.
