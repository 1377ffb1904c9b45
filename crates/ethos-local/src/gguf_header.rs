//! Reading a GGUF header from a stranger's bytes. candle's reader checks lengths against the
//! file, but divides by the file's `general.alignment` unchecked: a file that says 0 would panic
//! (and a panic aborts the wasm worker). [`read_content`] walks the metadata first, refuses an
//! alignment llama.cpp would refuse (0 or not a power of two), then lets candle read the header.
use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::Content;

use crate::runtime::LocalError;

/// Nested arrays deeper than this are left to candle (which refuses them).
const MAX_DEPTH: usize = 64;

/// The GGUF header at the reader's position (the reader is left after it, as candle leaves it).
pub fn read_content<R: Read + Seek>(reader: &mut R) -> Result<Content, LocalError> {
    check_alignment(reader)?;
    Content::read(reader).map_err(|e| LocalError::Gguf(e.to_string()))
}

/// An error when the header at the reader's position says `general.alignment` is 0 or not a
/// power of two; `Ok` otherwise, also when the header is cut short before saying it (candle then
/// reports the cut). The reader is put back where it was.
pub fn check_alignment<R: Read + Seek>(reader: &mut R) -> Result<(), LocalError> {
    let start = reader
        .stream_position()
        .map_err(|e| LocalError::Gguf(e.to_string()))?;
    let alignment = find_alignment(reader).unwrap_or(None);
    reader
        .seek(SeekFrom::Start(start))
        .map_err(|e| LocalError::Gguf(e.to_string()))?;
    match alignment {
        Some(a) if a <= 0 || (a as u64).count_ones() != 1 => Err(LocalError::Gguf(format!(
            "general.alignment is {a}: it must be a power of two"
        ))),
        _ => Ok(()),
    }
}

fn u32_of<R: Read>(r: &mut R) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn u64_of<R: Read>(r: &mut R) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A count or length: 32 bits in GGUF v1, 64 bits later.
fn len_of<R: Read>(r: &mut R, v1: bool) -> std::io::Result<u64> {
    if v1 {
        u32_of(r).map(u64::from)
    } else {
        u64_of(r)
    }
}

fn skip<R: Seek>(r: &mut R, n: u64) -> std::io::Result<()> {
    let n = i64::try_from(n).map_err(|_| std::io::ErrorKind::InvalidData)?;
    r.seek(SeekFrom::Current(n)).map(|_| ())
}

/// The size of a scalar value type, `None` for strings and arrays (and unknown types).
fn scalar_size(t: u32) -> Option<u64> {
    match t {
        0 | 1 | 7 => Some(1), // u8 i8 bool
        2 | 3 => Some(2),     // u16 i16
        4..=6 => Some(4),     // u32 i32 f32
        10..=12 => Some(8),   // u64 i64 f64
        _ => None,
    }
}

/// Skip one value of type `t`.
fn skip_value<R: Read + Seek>(r: &mut R, t: u32, v1: bool, depth: usize) -> std::io::Result<()> {
    if let Some(n) = scalar_size(t) {
        return skip(r, n);
    }
    match t {
        8 => {
            let n = len_of(r, v1)?;
            skip(r, n)
        }
        9 if depth < MAX_DEPTH => {
            let et = u32_of(r)?;
            let n = len_of(r, v1)?;
            if let Some(size) = scalar_size(et) {
                return skip(
                    r,
                    n.checked_mul(size).ok_or(std::io::ErrorKind::InvalidData)?,
                );
            }
            for _ in 0..n {
                skip_value(r, et, v1, depth + 1)?;
            }
            Ok(())
        }
        _ => Err(std::io::ErrorKind::InvalidData.into()),
    }
}

/// The integer value of `general.alignment` in the types candle reads it from, if present.
/// A seek past the end of the bytes is not an error in itself: the next read fails instead.
fn find_alignment<R: Read + Seek>(r: &mut R) -> std::io::Result<Option<i64>> {
    let mut magic = [0u8; 4];
    r.read_exact(&mut magic)?;
    if &magic != b"GGUF" {
        return Ok(None);
    }
    let v1 = u32_of(r)? == 1;
    let _tensor_count = len_of(r, v1)?;
    let kv_count = len_of(r, v1)?;
    for _ in 0..kv_count {
        let key_len = len_of(r, v1)?;
        let is_alignment = if key_len == 17 {
            let mut key = [0u8; 17];
            r.read_exact(&mut key)?;
            &key == b"general.alignment"
        } else {
            skip(r, key_len)?;
            false
        };
        let t = u32_of(r)?;
        if is_alignment {
            let mut b = [0u8; 4];
            let v = match t {
                0 => {
                    r.read_exact(&mut b[..1])?;
                    i64::from(b[0])
                }
                1 => {
                    r.read_exact(&mut b[..1])?;
                    i64::from(b[0] as i8)
                }
                2 => {
                    r.read_exact(&mut b[..2])?;
                    i64::from(u16::from_le_bytes([b[0], b[1]]))
                }
                3 => {
                    r.read_exact(&mut b[..2])?;
                    i64::from(i16::from_le_bytes([b[0], b[1]]))
                }
                4 => i64::from(u32_of(r)?),
                5 => i64::from(u32_of(r)? as i32),
                // Other types: candle uses its default alignment.
                _ => return Ok(None),
            };
            return Ok(Some(v));
        }
        skip_value(r, t, v1, 0)?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A GGUF v3 header with the given metadata entries (key, type, value bytes) and no tensors.
    fn header(kvs: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend((kvs.len() as u64).to_le_bytes());
        for (k, t, v) in kvs {
            b.extend((k.len() as u64).to_le_bytes());
            b.extend(k.as_bytes());
            b.extend(t.to_le_bytes());
            b.extend(v);
        }
        b
    }

    fn string(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u64).to_le_bytes().to_vec();
        v.extend(s.as_bytes());
        v
    }

    #[test]
    fn an_alignment_of_zero_or_not_a_power_of_two_is_refused_not_a_division_by_zero() {
        let others = || {
            vec![
                ("general.name", 8, string("x")),
                // An array of strings and one of u32 before the key, to walk past.
                ("tokenizer.ggml.tokens", 9, {
                    let mut v = 8u32.to_le_bytes().to_vec();
                    v.extend(2u64.to_le_bytes());
                    v.extend(string("a"));
                    v.extend(string("bc"));
                    v
                }),
                ("some.ids", 9, {
                    let mut v = 4u32.to_le_bytes().to_vec();
                    v.extend(3u64.to_le_bytes());
                    v.extend([0u8; 12]);
                    v
                }),
                ("general.alignmenX", 4, 7u32.to_le_bytes().to_vec()),
            ]
        };
        for (t, value, ok) in [
            (4u32, 0u32.to_le_bytes().to_vec(), false),
            (0, vec![0], false),
            (5, (-32i32).to_le_bytes().to_vec(), false),
            (4, 24u32.to_le_bytes().to_vec(), false),
            (4, 64u32.to_le_bytes().to_vec(), true),
            (2, 16u16.to_le_bytes().to_vec(), true),
            // A type candle ignores for the alignment: its default (32) applies.
            (6, 0f32.to_le_bytes().to_vec(), true),
        ] {
            let mut kvs = others();
            kvs.push(("general.alignment", t, value));
            let bytes = header(&kvs);
            let r = read_content(&mut Cursor::new(bytes.as_slice()));
            assert_eq!(r.is_ok(), ok, "type {t}: {:?}", r.err());
            if !ok {
                let e = r.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(e.contains("general.alignment"), "{e}");
            }
        }
    }

    #[test]
    fn a_header_cut_anywhere_is_an_error_never_a_panic() {
        let bytes = header(&[
            ("general.name", 8, string("x")),
            ("general.alignment", 4, 0u32.to_le_bytes().to_vec()),
        ]);
        for cut in 0..bytes.len() {
            assert!(
                read_content(&mut Cursor::new(&bytes[..cut])).is_err(),
                "cut at {cut}"
            );
        }
    }
}
