//! The scenarios shipped with mxray, compiled in so `lab demo` and tests need no files:
//! `SEEDS` reproduces each failure the 421 guides describe, `WORLD` is a big world for benches.

/// `scenarios/seeds.toml`.
pub const SEEDS: &str = include_str!("../scenarios/seeds.toml");
/// `scenarios/world.toml`.
pub const WORLD: &str = include_str!("../scenarios/world.toml");

/// Bundled scenarios by file name.
pub const ALL: [(&str, &str); 2] = [("seeds.toml", SEEDS), ("world.toml", WORLD)];

/// A bundled scenario by file name (`"seeds.toml"`) or stem (`"seeds"`).
pub fn get(name: &str) -> Option<&'static str> {
    let stem = name.strip_suffix(".toml").unwrap_or(name);
    ALL.iter()
        .find(|(n, _)| n.strip_suffix(".toml") == Some(stem))
        .map(|(_, t)| *t)
}
