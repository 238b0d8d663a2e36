//! On-demand hourly prices (USD, Linux, us-east-1) of common instance types, for the
//! savings estimate. A type not listed is "unknown", never guessed.

/// `(type, USD per hour)`.
const HOURLY: &[(&str, f64)] = &[
    ("t2.micro", 0.0116),
    ("t2.small", 0.023),
    ("t2.medium", 0.0464),
    ("t2.large", 0.0928),
    ("t3.nano", 0.0052),
    ("t3.micro", 0.0104),
    ("t3.small", 0.0208),
    ("t3.medium", 0.0416),
    ("t3.large", 0.0832),
    ("t3.xlarge", 0.1664),
    ("t3.2xlarge", 0.3328),
    ("t3a.micro", 0.0094),
    ("t3a.small", 0.0188),
    ("t3a.medium", 0.0376),
    ("t3a.large", 0.0752),
    ("t3a.xlarge", 0.1504),
    ("t4g.micro", 0.0084),
    ("t4g.small", 0.0168),
    ("t4g.medium", 0.0336),
    ("t4g.large", 0.0672),
    ("m5.large", 0.096),
    ("m5.xlarge", 0.192),
    ("m5.2xlarge", 0.384),
    ("m5.4xlarge", 0.768),
    ("m6i.large", 0.096),
    ("m6i.xlarge", 0.192),
    ("m6i.2xlarge", 0.384),
    ("m7i.large", 0.1008),
    ("m7g.large", 0.0816),
    ("c5.large", 0.085),
    ("c5.xlarge", 0.17),
    ("c5.2xlarge", 0.34),
    ("c6i.large", 0.085),
    ("c6i.xlarge", 0.17),
    ("c7g.large", 0.0725),
    ("r5.large", 0.126),
    ("r5.xlarge", 0.252),
    ("r6i.large", 0.126),
    ("r6i.xlarge", 0.252),
];

/// The hourly price of a type, if the table has it.
pub fn hourly(instance_type: &str) -> Option<f64> {
    HOURLY
        .iter()
        .find(|(t, _)| *t == instance_type)
        .map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_have_a_price_and_unknown_ones_none() {
        assert_eq!(hourly("t3.medium"), Some(0.0416));
        assert_eq!(hourly("m5.large"), Some(0.096));
        assert_eq!(hourly("x2iedn.32xlarge"), None);
    }
}
