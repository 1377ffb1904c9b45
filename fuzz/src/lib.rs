//! Helpers shared by the fuzz targets.

/// Split `data` into consecutive pieces whose lengths (1 to 64 bytes, or one byte at a time)
/// come from a generator seeded by the data itself, so a corpus file is just the bytes a server
/// or a file would hold and every input is replayed with the same split.
pub fn pieces(data: &[u8]) -> Vec<&[u8]> {
    // FNV-1a of the input seeds a xorshift generator.
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let max = match next() % 4 {
        0 => 1,
        1 => 3,
        2 => 16,
        _ => 64,
    };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = (1 + (next() % max) as usize).min(rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

/// The input as text: lossily decoded, so that every byte string reaches the text parsers.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A protocol stream decoder's three calls.
pub struct Decoder<D, E: std::fmt::Debug, R: std::fmt::Debug> {
    pub new: fn() -> D,
    pub feed: fn(&mut D, &[u8]) -> Result<Vec<String>, E>,
    pub finish: fn(D) -> Result<R, E>,
}

impl<D, E: std::fmt::Debug, R: std::fmt::Debug> Decoder<D, E, R> {
    /// The text pieces returned until the first error, and the outcome (the final response, or
    /// the first error), feeding `chunks` in order as the client does.
    fn run<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) -> (String, String) {
        let mut d = (self.new)();
        let mut text = String::new();
        for c in chunks {
            match (self.feed)(&mut d, c) {
                Ok(deltas) => {
                    assert!(deltas.iter().all(|p| !p.is_empty()), "an empty text piece");
                    text.extend(deltas);
                }
                Err(e) => return (text, format!("{:?}", Err::<R, E>(e))),
            }
        }
        (text, format!("{:?}", (self.finish)(d)))
    }

    /// Any bytes, fed whole and fed in pieces, give the same text and the same final response
    /// or error (and never a panic).
    pub fn check(&self, data: &[u8]) {
        let whole = self.run([data]);
        let split = self.run(pieces(data));
        assert_eq!(whole, split, "the decoded reply depends on how the bytes were split");
    }
}
