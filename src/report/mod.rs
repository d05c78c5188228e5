//! What a run shows a person: confusion matrices and SVG charts.

pub mod metrics;
pub mod plot;
