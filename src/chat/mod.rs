//! Chat platform adapters. Features produce neutral content; adapters deliver it.

pub mod slack;
