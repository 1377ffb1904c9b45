//! Exports for bench/kernels/run.js: random k-quant rows and quantised activations, then the
//! prompt path (`row_dot_k_batch`, a batch of tokens per row) and the generation path (one token:
//! `row_dot_k` a row a call, and `rows_dot_k` 32 rows a call as the model's matrix products) over
//! every row. No wasm-bindgen: plain exports, no imports.
use ethos_local::quants::{row_dot_k, row_dot_k_batch, rows_dot_k, KQuant, Q8K, QK_K};
use std::cell::RefCell;

struct Setup {
    kind: KQuant,
    rows: usize,
    cols: usize,
    w: Vec<u8>,
    xs: Vec<Q8K>,
    out: Vec<f32>,
}

thread_local! {
    static SETUP: RefCell<Option<Setup>> = const { RefCell::new(None) };
}

/// xorshift64.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// `kind` 4, 5 or 6 (Q4_K, Q5_K, Q6_K); `cols` a multiple of 256. Random bytes, each block's f16
/// scales set to the medians of Qwen2.5-Coder-1.5B Q4_K_M's: Q4_K / Q5_K d 7.68e-5 and dmin
/// 6.07e-4, Q6_K d 1.32e-5 (a subnormal half, as every Q6_K scale of that file); activations
/// uniform in [-2, 2).
#[no_mangle]
pub extern "C" fn setup(kind: u32, rows: usize, cols: usize, tokens: usize) {
    let kind = match kind {
        4 => KQuant::Q4K,
        5 => KQuant::Q5K,
        _ => KQuant::Q6K,
    };
    let bytes = kind.block_bytes();
    let mut seed = 0x1234_5678u64;
    let mut w: Vec<u8> = (0..rows * cols / QK_K * bytes).map(|_| next(&mut seed) as u8).collect();
    for block in w.chunks_exact_mut(bytes) {
        match kind {
            KQuant::Q6K => block[208..210].copy_from_slice(&0x00DDu16.to_le_bytes()),
            _ => {
                block[0..2].copy_from_slice(&0x0508u16.to_le_bytes());
                block[2..4].copy_from_slice(&0x10F9u16.to_le_bytes());
            }
        }
    }
    let xs = (0..tokens)
        .map(|_| {
            let x: Vec<f32> = (0..cols).map(|_| (next(&mut seed) % 1000) as f32 / 250.0 - 2.0).collect();
            let mut q = Q8K::new(cols);
            q.quantize(&x);
            q
        })
        .collect();
    let out = vec![0.0; tokens];
    SETUP.with(|s| *s.borrow_mut() = Some(Setup { kind, rows, cols, w, xs, out }));
}

/// Every row against the whole batch (the prompt path); the sum of the results.
#[no_mangle]
pub extern "C" fn batch() -> f32 {
    SETUP.with(|s| {
        let mut s = s.borrow_mut();
        let Some(s) = s.as_mut() else { return f32::NAN };
        let len = s.cols / QK_K * s.kind.block_bytes();
        let refs: Vec<&Q8K> = s.xs.iter().collect();
        let mut total = 0.0;
        for row in s.w.chunks_exact(len).take(s.rows) {
            row_dot_k_batch(s.kind, row, &refs, &mut s.out);
            total += s.out.iter().sum::<f32>();
        }
        total
    })
}

/// `f(setup, the batch's first token, bytes per row)`: the generation path's exports; NaN before
/// `setup`.
fn with_first_token(f: impl FnOnce(&Setup, &Q8K, usize) -> f32) -> f32 {
    SETUP.with(|s| {
        let s = s.borrow();
        let Some(s) = s.as_ref() else { return f32::NAN };
        let Some(x) = s.xs.first() else { return f32::NAN };
        f(s, x, s.cols / QK_K * s.kind.block_bytes())
    })
}

/// Every row against the batch's first token (the generation path), a row a call.
#[no_mangle]
pub extern "C" fn one() -> f32 {
    with_first_token(|s, x, len| s.w.chunks_exact(len).take(s.rows).map(|row| row_dot_k(s.kind, row, x)).sum())
}

thread_local! {
    /// `one_rows`' outputs, kept between calls (no allocation in the timed loop).
    static ROWS_OUT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Every row against the batch's first token, 32 rows per call (generation's matrix products).
#[no_mangle]
pub extern "C" fn one_rows() -> f32 {
    with_first_token(|s, x, len| {
        ROWS_OUT.with(|all| {
            let mut all = all.borrow_mut();
            all.resize(s.rows, 0.0);
            for (rows, out) in s.w.chunks(32 * len).zip(all.chunks_mut(32)) {
                rows_dot_k(s.kind, rows, len, x, out);
            }
            // Summed as `one` sums (the same order), so the two sums compare bit for bit.
            all.iter().sum()
        })
    })
}
