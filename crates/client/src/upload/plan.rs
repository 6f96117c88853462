//! Part sizing: how a source of known (or unknown) size is cut into at most 10,000 parts.

use osspart_protocol::limits::{MAX_PART_NUMBER, MAX_PART_SIZE, MIN_PART_SIZE};

use crate::error::{Error, Result};

/// Default part size (1 MiB), as ali-oss uses.
pub const DEFAULT_PART_SIZE: u64 = 1024 * 1024;

/// How a source is cut into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Size of every part but possibly the last; for streams, the size of the first parts.
    pub part_size: u64,
    /// Total size, when known.
    pub total: Option<u64>,
}

/// Checks a requested part size (100 KiB..=5 GiB).
pub fn check_part_size(part_size: u64) -> Result<()> {
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
        return Err(Error::InvalidArgument(format!(
            "part size {part_size} is outside {MIN_PART_SIZE}..={MAX_PART_SIZE} bytes"
        )));
    }
    Ok(())
}

/// Parts a stream of unknown size sends at one size before the size doubles.
const STREAM_PARTS_PER_STEP: u32 = 1000;

impl Plan {
    /// Plans a source of `total` bytes (`None` = unknown, a stream) with the requested part
    /// size. Returns the plan and, when the part size had to be raised to stay within 10,000
    /// parts, a warning saying so.
    pub fn new(total: Option<u64>, requested: u64) -> Result<(Plan, Option<String>)> {
        check_part_size(requested)?;
        let Some(total) = total else {
            return Ok((
                Plan {
                    part_size: requested,
                    total: None,
                },
                None,
            ));
        };
        let max_parts = u64::from(MAX_PART_NUMBER);
        if total.div_ceil(requested) <= max_parts {
            return Ok((
                Plan {
                    part_size: requested,
                    total: Some(total),
                },
                None,
            ));
        }
        let raised = total.div_ceil(max_parts);
        if raised > MAX_PART_SIZE {
            return Err(Error::InvalidArgument(format!(
                "{total} bytes do not fit in {max_parts} parts of at most {MAX_PART_SIZE} bytes"
            )));
        }
        // Round up to a whole KiB so the sizes stay readable.
        let raised = raised.div_ceil(1024) * 1024;
        let warning = format!("part size raised from {requested} to {raised} bytes so {total} bytes fit in {max_parts} parts");
        Ok((
            Plan {
                part_size: raised,
                total: Some(total),
            },
            Some(warning),
        ))
    }

    /// Number of parts, when the total is known (an empty source is one empty part).
    pub fn part_count(&self) -> Option<u32> {
        self.total.map(|t| t.div_ceil(self.part_size).max(1) as u32)
    }

    /// Offset and length of part `number` (1-based).
    pub fn part(&self, number: u32) -> (u64, u64) {
        match self.total {
            Some(total) => {
                let offset = u64::from(number - 1) * self.part_size;
                (offset, self.part_size.min(total.saturating_sub(offset)))
            }
            None => {
                let mut offset = 0;
                for n in 1..number {
                    offset += self.stream_part_size(n);
                }
                (offset, self.stream_part_size(number))
            }
        }
    }

    /// Size of part `number` of a stream: doubles every 1,000 parts (capped at 5 GiB), so
    /// 10,000 parts hold about 1,023,000 x the first part size.
    pub fn stream_part_size(&self, number: u32) -> u64 {
        let step = (number - 1) / STREAM_PARTS_PER_STEP;
        self.part_size
            .saturating_mul(1 << step.min(20))
            .min(MAX_PART_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sizes() {
        let (p, w) = Plan::new(Some(10 * 1024 * 1024 + 1), DEFAULT_PART_SIZE).unwrap();
        assert!(w.is_none());
        assert_eq!(p.part_count(), Some(11));
        assert_eq!(p.part(11), (10 * 1024 * 1024, 1));
        let (p, _) = Plan::new(Some(0), DEFAULT_PART_SIZE).unwrap();
        assert_eq!(p.part_count(), Some(1));
        assert_eq!(p.part(1), (0, 0));
    }

    #[test]
    fn raised_to_fit_ten_thousand_parts() {
        let total = 20 * 1024 * 1024 * 1024u64;
        let (p, w) = Plan::new(Some(total), DEFAULT_PART_SIZE).unwrap();
        assert!(w.unwrap().contains("raised"));
        assert!(p.part_count().unwrap() <= 10_000);
        assert!(p.part_size >= total / 10_000);
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(Plan::new(Some(1), 100 * 1024 - 1).is_err());
        assert!(Plan::new(Some(1), 5 * 1024 * 1024 * 1024 + 1).is_err());
    }

    #[test]
    fn streams_grow() {
        let (p, _) = Plan::new(None, DEFAULT_PART_SIZE).unwrap();
        assert_eq!(p.stream_part_size(1000), DEFAULT_PART_SIZE);
        assert_eq!(p.stream_part_size(1001), 2 * DEFAULT_PART_SIZE);
        assert_eq!(p.part(3), (2 * DEFAULT_PART_SIZE, DEFAULT_PART_SIZE));
        let capacity: u64 = (1..=10_000).map(|n| p.stream_part_size(n)).sum();
        assert_eq!(
            capacity,
            1_023_000 * DEFAULT_PART_SIZE,
            "10,000 stream parts hold ~1,000 GiB"
        );
    }
}
