//! The scenario's random numbers: the simulator's `SplitMix64` generator
//! ([`callstats_fake_gateway::simulator::Rng`]), so the same seed gives the same scenario on
//! every machine and every version of every dependency, with the helpers the driver's
//! probabilities are written in.

/// A seeded generator for scenarios.
#[derive(Clone, Debug)]
pub struct Rng(callstats_fake_gateway::simulator::Rng);

impl Rng {
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(callstats_fake_gateway::simulator::Rng::new(seed))
    }

    pub const fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `0..n` (`n` > 0).
    pub const fn below(&mut self, n: u64) -> u64 {
        // Modulo, not the simulator's multiply-shift: recorded seeds keep replaying the same
        // scenarios.
        self.next_u64() % if n == 0 { 1 } else { n }
    }

    /// A number in `0..1`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}
