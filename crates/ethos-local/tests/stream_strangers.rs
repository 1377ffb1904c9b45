//! A streamed GGUF (`StreamLoader`, the browser's download path) is a stranger's file: tensors
//! that overlap or lie past the announced size, a header that never ends, an alignment of 0 are
//! plain errors, found as soon as the header is read, never a panic and never an allocation the
//! header merely asked for. Small files written here; no model needed.
use ethos_local::stream::StreamLoader;
use ethos_local::LoadOptions;

/// A GGUF v3 file: metadata `(key, type, value bytes)`, tensors `(name, dims, ggml type,
/// offset)`, then `data` after the header padded to 32 bytes.
fn gguf(kvs: &[(&str, u32, Vec<u8>)], tensors: &[(&str, &[u64], u32, u64)], data: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    for (k, t, v) in kvs {
        b.extend(string(k));
        b.extend(t.to_le_bytes());
        b.extend(v);
    }
    for (name, dims, t, offset) in tensors {
        b.extend(string(name));
        b.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(t.to_le_bytes());
        b.extend(offset.to_le_bytes());
    }
    while b.len() % 32 != 0 {
        b.push(0);
    }
    b.extend(data);
    b
}

fn string(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend(s.as_bytes());
    v
}

const F32: u32 = 0;

/// Push `bytes` in chunks of `chunk` and finish; the first error, as text.
fn stream_error(bytes: &[u8], total: Option<u64>, chunk: usize) -> (String, &'static str) {
    let mut s = StreamLoader::new(total);
    for c in bytes.chunks(chunk.max(1)) {
        if let Err(e) = s.push(c) {
            return (e.to_string(), "push");
        }
    }
    match s.finish(LoadOptions::default(), None) {
        Ok(_) => panic!("a model from a stranger's broken file"),
        Err(e) => (e.to_string(), "finish"),
    }
}

#[test]
fn overlapping_tensors_are_refused_as_soon_as_the_header_is_read() {
    let arch = ("general.architecture", 8, string("llama"));
    let bytes = gguf(
        &[arch],
        &[("a", &[8], F32, 0), ("b", &[8], F32, 16)],
        &[0u8; 64],
    );
    for (total, chunk) in [(Some(bytes.len() as u64), 7), (None, 1 << 16)] {
        let (e, when) = stream_error(&bytes, total, chunk);
        assert!(e.contains("overlap"), "{total:?}: {e}");
        // With a known total the header is read when the last byte arrives; without one, at
        // finish (the file is smaller than the first try).
        assert_eq!(when, if total.is_some() { "push" } else { "finish" });
    }
}

#[test]
fn a_tensor_past_the_announced_size_is_refused_before_any_tensor_is_filled() {
    let arch = ("general.architecture", 8, string("llama"));
    // 1 M f32 values (4 MB) declared, a file of a few hundred bytes announced.
    let bytes = gguf(&[arch], &[("big", &[1 << 20], F32, 0)], &[0u8; 64]);
    let (e, when) = stream_error(&bytes, Some(bytes.len() as u64), 5);
    assert!(e.contains("outside the file"), "{e}");
    assert_eq!(when, "push");
    // Unannounced: the file simply ends before the tensor does.
    let (e, _) = stream_error(&bytes, None, 5);
    assert!(e.contains("cut short"), "{e}");
}

#[test]
fn an_alignment_of_zero_is_refused_while_streaming_not_a_division_by_zero() {
    for value in [0u32, 24] {
        let bytes = gguf(
            &[
                ("general.architecture", 8, string("llama")),
                ("general.alignment", 4, value.to_le_bytes().to_vec()),
            ],
            &[("a", &[8], F32, 0)],
            &[0u8; 32],
        );
        for total in [Some(bytes.len() as u64), None] {
            let (e, _) = stream_error(&bytes, total, 3);
            assert!(e.contains("general.alignment is"), "{value} {total:?}: {e}");
        }
        // The whole-file path says the same.
        let e = ethos_local::LocalModel::from_gguf_bytes(&bytes, LoadOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("general.alignment is"), "{value}: {e}");
    }
}

#[test]
fn a_header_that_never_ends_is_refused_after_256_mb() {
    // A metadata string of 700 MB declared (under candle's 1 GB cap): the header is incomplete
    // for as long as the bytes come. The loader gives up at 256 MB instead of keeping them all.
    let mut head = b"GGUF".to_vec();
    head.extend(3u32.to_le_bytes());
    head.extend(0u64.to_le_bytes());
    head.extend(1u64.to_le_bytes());
    head.extend(string("general.name"));
    head.extend(8u32.to_le_bytes());
    head.extend((700u64 << 20).to_le_bytes());
    let mut s = StreamLoader::new(None);
    s.push(&head).expect("the start of a header");
    let chunk = vec![b'x'; 8 << 20];
    let mut pushed = head.len();
    let err = loop {
        match s.push(&chunk) {
            Ok(()) => pushed += chunk.len(),
            Err(e) => break e.to_string(),
        }
        assert!(pushed < 300 << 20, "still accepting bytes at {pushed}");
    };
    assert!(err.contains("no complete GGUF header"), "{err}");
    // The refused chunk is the one that took the header past 256 MB.
    assert!(pushed + chunk.len() > 256 << 20, "gave up early, at {pushed}");
    // And stays refused.
    assert!(s.push(b"more").is_err());
}

#[test]
fn a_file_of_only_a_header_start_is_an_error_at_finish() {
    let bytes = gguf(&[("general.architecture", 8, string("llama"))], &[("a", &[8], F32, 0)], &[0u8; 32]);
    for cut in [0, 3, 4, 12, 30, bytes.len() - 33] {
        let (e, when) = stream_error(&bytes[..cut], None, 1);
        assert_eq!(when, "finish", "cut at {cut}: {e}");
        assert!(!e.is_empty());
    }
}
