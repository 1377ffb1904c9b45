//! Loading a GGUF as it arrives, chunk by chunk (a download, a cached copy, a picked file), with
//! no copy of the whole file: the header is parsed as soon as it is complete, then every tensor's
//! bytes go straight into a buffer of that tensor's exact size, which the model later takes over
//! ([`crate::fast::Tensors::Owned`]). Peak memory is about the file's size plus one tensor, not
//! two or three times the file. The SHA-256 of everything received is computed on the way, so a
//! caller can refuse a corrupted file before any model is built from it.
//!
//! Every size and offset comes from the file: a stranger's. Overlapping tensors, tensors past the
//! declared total, a header that never ends or a file cut short are errors, never a panic or an
//! allocation the header merely asked for.
use std::collections::HashMap;
use std::io::Cursor;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::GgmlDType;
use sha2::{Digest, Sha256};

use crate::fast::Tensors;
use crate::runtime::{LoadOptions, LocalError, LocalModel};

/// A header larger than this is refused (real ones are a few MB: the vocabulary and merges).
const MAX_HEADER: usize = 256 << 20;
/// The header is first tried at this many bytes, then each time the received bytes double.
const FIRST_TRY: usize = 1 << 20;

/// One tensor's place in the file.
struct Slot {
    name: String,
    start: u64,
    end: u64,
}

/// The header once parsed, and the tensors received so far.
struct Plan {
    ct: Content,
    /// Tensors by start offset.
    slots: Vec<Slot>,
    /// The slot being filled (index into `slots`) and its buffer.
    next: usize,
    current: Vec<u8>,
    done: HashMap<String, Vec<u8>>,
    /// The whole file, for a file the fast backend cannot run (candle reads from it); `None`
    /// when every tensor is streamed into `done`.
    whole: Option<Vec<u8>>,
}

/// Feeds chunks in file order: `push` each, then `finish`.
pub struct StreamLoader {
    total: Option<u64>,
    received: u64,
    hasher: Sha256,
    /// Bytes from the start of the file until the header is parsed.
    head: Vec<u8>,
    next_try: usize,
    plan: Option<Plan>,
    failed: Option<LocalError>,
}

/// Whether the fast backend keeps this tensor as it is streamed (matrices of the types it
/// implements, f32/f16 vectors).
fn fast_type(dtype: GgmlDType, dims: usize) -> bool {
    match dims {
        1 => matches!(dtype, GgmlDType::F32 | GgmlDType::F16),
        2 => matches!(
            dtype,
            GgmlDType::Q4_0
                | GgmlDType::Q4_1
                | GgmlDType::Q8_0
                | GgmlDType::Q5_0
                | GgmlDType::Q4K
                | GgmlDType::Q5K
                | GgmlDType::Q6K
        ),
        _ => false,
    }
}

impl StreamLoader {
    /// `total`: the file's size when known (a Content-Length, a file's size): chunks past it
    /// are an error, and `finish` checks that all of it came.
    pub fn new(total: Option<u64>) -> Self {
        Self {
            total,
            received: 0,
            hasher: Sha256::new(),
            head: Vec::new(),
            next_try: FIRST_TRY,
            plan: None,
            failed: None,
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// The SHA-256 of the bytes received so far, in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }

    /// The next chunk of the file. After an error every later call returns it again.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), LocalError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.push_inner(chunk);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.plan = None;
            self.head = Vec::new();
        }
        r
    }

    fn push_inner(&mut self, chunk: &[u8]) -> Result<(), LocalError> {
        let at = self.received;
        let len = chunk.len() as u64;
        if let Some(total) = self.total {
            if at.saturating_add(len) > total {
                return Err(LocalError::Gguf(format!(
                    "more data than the file's announced size ({total} bytes)"
                )));
            }
        }
        self.hasher.update(chunk);
        self.received = at.saturating_add(len);
        if self.plan.is_none() {
            self.head.extend_from_slice(chunk);
            let complete = self.total.is_some_and(|t| self.received >= t);
            if self.head.len() >= self.next_try || complete {
                self.next_try = self.head.len().saturating_mul(2);
                self.try_header()?;
            }
            if self.plan.is_none() && self.head.len() > MAX_HEADER {
                return Err(LocalError::Gguf(format!(
                    "no complete GGUF header in the first {} MB",
                    MAX_HEADER >> 20
                )));
            }
            return Ok(());
        }
        self.place(at, chunk)
    }

    /// Parse the header from the bytes so far; on success, route the bytes past it.
    fn try_header(&mut self) -> Result<(), LocalError> {
        let mut cursor = Cursor::new(self.head.as_slice());
        // A header that says something refused is refused now, not read again at every size.
        crate::gguf_header::check_alignment(&mut cursor)?;
        let Ok(ct) = Content::read(&mut cursor) else {
            // Incomplete (or not a GGUF: `finish` reports the parse error).
            return Ok(());
        };
        let mut slots = Vec::with_capacity(ct.tensor_infos.len());
        let mut streamable = true;
        for (name, info) in &ct.tensor_infos {
            let size = crate::fast::tensor_size(name, info)? as u64;
            let start = ct.tensor_data_offset.checked_add(info.offset);
            let end = start.and_then(|s| s.checked_add(size));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(LocalError::Gguf(format!("tensor {name} lies outside the file")));
            };
            if self.total.is_some_and(|t| end > t) {
                return Err(LocalError::Gguf(format!("tensor {name} lies outside the file")));
            }
            streamable &= fast_type(info.ggml_dtype, info.shape.dims().len());
            slots.push(Slot {
                name: name.clone(),
                start,
                end,
            });
        }
        slots.sort_by_key(|s| (s.start, s.end));
        if slots.windows(2).any(|w| w[1].start < w[0].end) {
            return Err(LocalError::Gguf("two tensors overlap in the file".into()));
        }
        let head = std::mem::take(&mut self.head);
        let mut plan = Plan {
            ct,
            slots,
            next: 0,
            current: Vec::new(),
            done: HashMap::new(),
            whole: None,
        };
        if !streamable {
            // Kept whole for candle (files of types the fast backend does not run).
            let mut whole = Vec::new();
            let size = usize::try_from(self.total.unwrap_or(head.len() as u64))
                .map_err(|_| LocalError::Gguf("this file is too large for this device".into()))?;
            whole
                .try_reserve_exact(size)
                .map_err(|_| LocalError::Gguf("not enough memory for this file".into()))?;
            plan.whole = Some(whole);
        }
        self.plan = Some(plan);
        self.place(0, &head)
    }

    /// Bytes `at..at + chunk.len()` of the file into the tensors they belong to.
    fn place(&mut self, at: u64, chunk: &[u8]) -> Result<(), LocalError> {
        let Some(plan) = self.plan.as_mut() else {
            return Ok(());
        };
        if let Some(whole) = plan.whole.as_mut() {
            whole.extend_from_slice(chunk);
            return Ok(());
        }
        let end = at + chunk.len() as u64;
        let mut pos = at;
        while pos < end {
            let Some(slot) = plan.slots.get(plan.next) else {
                return Ok(()); // past the last tensor: padding
            };
            if pos < slot.start {
                pos = slot.start.min(end);
                continue;
            }
            if plan.current.is_empty() && slot.end > slot.start {
                let size = (slot.end - slot.start) as usize;
                plan.current.try_reserve_exact(size).map_err(|_| {
                    LocalError::Gguf(format!(
                        "not enough memory for tensor {} ({size} bytes)",
                        slot.name
                    ))
                })?;
            }
            let from = (pos - at) as usize;
            let take = (slot.end.min(end) - pos) as usize;
            plan.current
                .extend_from_slice(chunk.get(from..from + take).unwrap_or(&[]));
            pos += take as u64;
            if pos >= slot.end {
                let data = std::mem::take(&mut plan.current);
                plan.done.insert(slot.name.clone(), data);
                plan.next += 1;
            }
        }
        Ok(())
    }

    /// The model, once every byte has arrived. `expected_sha256` (hex): a file whose hash
    /// differs is refused before anything is built from it.
    pub fn finish(
        mut self,
        opts: LoadOptions,
        expected_sha256: Option<&str>,
    ) -> Result<LocalModel, LocalError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if let Some(total) = self.total {
            if self.received != total {
                return Err(LocalError::Gguf(format!(
                    "the file is cut short: {} of {total} bytes arrived",
                    self.received
                )));
            }
        }
        if let Some(want) = expected_sha256 {
            let got = self.sha256_hex();
            if !got.eq_ignore_ascii_case(want.trim()) {
                return Err(LocalError::Gguf(format!(
                    "the file is corrupted: its SHA-256 is {got}, not the expected {}",
                    want.trim()
                )));
            }
        }
        if self.plan.is_none() {
            // A file smaller than the first try: parse it now.
            self.try_header()?;
        }
        if self.plan.is_none() {
            // Never parsed: say why.
            let mut cursor = Cursor::new(self.head.as_slice());
            return match crate::gguf_header::read_content(&mut cursor) {
                Err(e) => Err(e),
                Ok(_) => Err(LocalError::Gguf("the GGUF header could not be read".into())),
            };
        }
        let Some(plan) = self.plan.take() else {
            return Err(LocalError::Gguf("the GGUF header could not be read".into()));
        };
        let file_bytes = usize::try_from(self.received).unwrap_or(usize::MAX);
        let sha256 = Some(self.sha256_hex());
        if let Some(whole) = plan.whole {
            let mut model = LocalModel::from_gguf_bytes(&whole, opts)?;
            model.set_sha256(sha256);
            return Ok(model);
        }
        if plan.next < plan.slots.len() {
            let missing = &plan.slots[plan.next];
            return Err(LocalError::Gguf(format!(
                "the file is cut short: tensor {} ends at byte {}, the file at {}",
                missing.name, missing.end, self.received
            )));
        }
        LocalModel::from_parts(plan.ct, Tensors::Owned(plan.done), file_bytes, None, sha256, opts)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
