//! The formatter behind `tpt fmt`: prints a file in the canonical layout,
//! keeping every comment. Idempotent: formatting formatted text changes nothing.
