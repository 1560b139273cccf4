//! Benchmarks for ratewire: criterion benches (`benches/`), profiling
//! passes (`examples/`) and their results (`results/`, one folder per run).
//!
//! The data they rate comes from [`ratewire_sample`], the sample generator,
//! so that the demo and the benchmarks draw the same operator; this library
//! holds no code of its own.
