//! Share links (`#r2=<deflated payload>` and the old `#run=<run>~<baseline>…`, from a URL someone
//! sent): any fragment is a run, a comparison or a clear error, never a panic. The input is used
//! as the fragment text, base64url-encoded as the old links' payload (so the fuzzer reaches the
//! record parser behind the encoding), and as an `#r2=` link's inflated payload (its header, the
//! string-table expansion and the records; inflating is the browser's own `DecompressionStream`).
#![no_main]
use ethos_engine::share;
use ethos_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = text(data);
    let _ = share::decode_all(&t);
    let _ = share::read_link(&t);
    let _ = share::read_link(&format!("{}{}", share::PREFIX_V2, b64url(data)));
    if let Ok(shared) = share::from_payload(data) {
        let again = share::from_payload(share::payload(&shared).as_bytes());
        assert!(again.is_ok(), "a read payload does not read again: {again:?}");
    }
    // The payload path: the bytes as a link's base64url, with a damaged baseline after it.
    let fragment = format!("{}{}~{}~%%", share::PREFIX, b64url(data), b64url(&data[data.len() / 2..]));
    if let Ok((run, baselines)) = share::decode_all(&fragment) {
        assert!(baselines.len() <= 1);
        let again = share::decode_all(&share::fragment(&run, &baselines));
        assert!(again.is_ok(), "a decoded link does not decode again: {again:?}");
    }
});

/// base64url without padding (the links' encoding), written here so the harness does not
/// depend on the encoder under test.
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for c in bytes.chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=c.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}
