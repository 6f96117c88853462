//! The `Range` header parser and its resolution against an object size. Checks: no panic; a
//! parsed range is written back (`to_header`) as a header that parses to the same range; a
//! resolved range lies inside the object, first <= last < size, and a suffix range ends at the
//! last byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use osspart_protocol::range::{self, ByteRange};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().unwrap());
    // Small sizes are the interesting ones; keep a share of huge ones too.
    let size = if size & 1 == 0 { size % 4096 } else { size };
    let Ok(header) = std::str::from_utf8(&data[8..]) else {
        return;
    };
    let Some(r) = range::parse(header) else {
        return;
    };
    assert_eq!(range::parse(&r.to_header()), Some(r), "{header:?}");
    if let ByteRange::FromTo(first, last) = r {
        assert!(first <= last, "{header:?}");
    }
    if let Some((first, last)) = r.resolve(size) {
        assert!(
            first <= last && last < size,
            "{r:?} in {size}: {first}-{last}"
        );
        match r {
            ByteRange::From(a) => assert_eq!((first, last), (a, size - 1)),
            ByteRange::FromTo(a, b) => assert_eq!((first, last), (a, b.min(size - 1))),
            ByteRange::Suffix(n) => {
                assert_eq!(last, size - 1);
                assert_eq!(last - first + 1, n.min(size));
            }
        }
    }
});
