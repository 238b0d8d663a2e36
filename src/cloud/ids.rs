//! The ids the cloud adapters act on. Each is checked when it is made (from a
//! proposal's parameters, a config value or an AWS answer), so a destructive call
//! never receives a string of the wrong kind: a snapshot id where a volume id
//! belongs, or a user name with a path in it.

use crate::domain::{InvalidId, string_id};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// `prefix` followed by 1 to 32 lowercase letters or digits, as EC2 writes its ids.
fn ec2_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| {
        (1..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

string_id!(
    /// An EBS volume id such as `vol-0a1b2c3d4e5f60718`.
    VolumeId,
    "EBS volume id",
    |v| ec2_id(v, "vol-")
);

string_id!(
    /// An EBS snapshot id such as `snap-0a1b2c3d4e5f60718`.
    SnapshotId,
    "EBS snapshot id",
    |v| ec2_id(v, "snap-")
);

string_id!(
    /// An EC2 instance id such as `i-0a1b2c3d4e5f60718`.
    InstanceId,
    "EC2 instance id",
    |v| ec2_id(v, "i-")
);

string_id!(
    /// An Elastic IP allocation id such as `eipalloc-0a1b2c3d`.
    AllocationId,
    "Elastic IP allocation id",
    |v| ec2_id(v, "eipalloc-")
);

string_id!(
    /// An IAM user name: 1 to 64 letters, digits and `+=,.@_-` (IAM's own rule).
    IamUserName,
    "IAM user name",
    |v| (1..=64).contains(&v.len())
        && v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
);

/// An Elastic IP: by allocation id (VPC), or by public IP (EC2-Classic).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressId {
    Allocation(AllocationId),
    PublicIp(IpAddr),
}

impl AddressId {
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        if let Ok(id) = AllocationId::parse(value) {
            return Ok(AddressId::Allocation(id));
        }
        value
            .parse::<IpAddr>()
            .map(AddressId::PublicIp)
            .map_err(|_| crate::domain::invalid("Elastic IP allocation id or address", value))
    }
}

impl fmt::Display for AddressId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressId::Allocation(id) => id.fmt(f),
            AddressId::PublicIp(ip) => ip.fmt(f),
        }
    }
}

impl Serialize for AddressId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AddressId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        AddressId::parse(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_id_takes_only_its_own_kind() {
        assert!(VolumeId::parse("vol-0a1b2c3d4e5f60718").is_ok());
        assert!(VolumeId::parse("snap-0a1b2c3d").is_err());
        assert!(VolumeId::parse("vol-").is_err());
        assert!(VolumeId::parse("vol-0A1B").is_err());
        assert!(SnapshotId::parse("snap-0a1b2c3d").is_ok());
        assert!(InstanceId::parse("i-0abc").is_ok());
        assert!(InstanceId::parse("i-0abc; rm").is_err());
        assert!(IamUserName::parse("bob.smith@acme").is_ok());
        assert!(IamUserName::parse("path/bob").is_err());
        assert!(IamUserName::parse("").is_err());
        assert_eq!(
            AddressId::parse("eipalloc-0abc").unwrap(),
            AddressId::Allocation(AllocationId::parse("eipalloc-0abc").unwrap())
        );
        assert!(matches!(
            AddressId::parse("203.0.113.7"),
            Ok(AddressId::PublicIp(_))
        ));
        assert!(AddressId::parse("eipalloc-").is_err());
    }
}
