//! CRC-64 against the vectors the official SDKs produced.

use osspart_protocol::crc64;
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("vectors/crc64.json");
    serde_json::from_str(text).unwrap()
}

fn pattern(spec: &str, n: usize) -> Option<Vec<u8>> {
    // The vector descriptions name the byte patterns of the spec README.
    if spec.contains("i mod 256") {
        return Some((0..n).map(|i| (i % 256) as u8).collect());
    }
    if let Some(rest) = spec.split("(31*i + ").nth(1) {
        let seed: usize = rest.split(')').next()?.trim().parse().ok()?;
        return Some((0..n).map(|i| ((31 * i + seed) % 251) as u8).collect());
    }
    None
}

#[test]
fn single_values_match_sdks() {
    let v = vectors();
    let mut checked = 0;
    for case in v["single"].as_array().unwrap() {
        let len = case["length"].as_u64().unwrap() as usize;
        let desc = case["description"].as_str().unwrap();
        let id = case["id"].as_str().unwrap();
        let data: Vec<u8> = match id {
            "empty" => vec![],
            "check" => b"123456789".to_vec(),
            "a" => b"a".to_vec(),
            "hello" => b"hello world".to_vec(),
            "zeros-1k" => vec![0; len],
            "ff-1k" => vec![0xFF; len],
            _ => pattern(desc, len).unwrap_or_else(|| panic!("unknown pattern {id}: {desc}")),
        };
        assert_eq!(data.len(), len, "{id}");
        let want: u64 = case["crc64"].as_str().unwrap().parse().unwrap();
        assert_eq!(crc64::checksum(&data), want, "{id}");
        checked += 1;
    }
    assert!(checked >= 9);
}

#[test]
fn combine_cases_match_sdks() {
    let v = vectors();
    let cases = v["combine"].as_array().unwrap();
    assert!(cases.len() >= 7);
    for case in cases {
        let parts = case["parts"].as_array().unwrap().iter().map(|p| {
            let crc: u64 = p["crc64"].as_str().unwrap().parse().unwrap();
            (crc, p["length"].as_u64().unwrap())
        });
        let want: u64 = case["combined_crc64"].as_str().unwrap().parse().unwrap();
        assert_eq!(crc64::combine_all(parts), want, "{}", case["id"]);
    }
}
