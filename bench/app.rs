//! App shell benchmark: release wasm size (raw and gzip) against the 350 KB gzip target, and the
//! time to first paint of the scenario list in headless Chromium, measured side by side.
//! Run: `bench/run.sh` (builds dist/ first) or `cargo bench -p ethos-e2e --bench app`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(target_arch = "wasm32")]
fn main() {}

/// The wasm files of a built dist/: the shell (`wasm-*/ethos-app_bg.wasm`, what the page loads
/// first) and the chunks loaded on first use, each with its raw and gzip -9 size in bytes.
#[cfg(not(target_arch = "wasm32"))]
fn wasm_files(dist: &std::path::Path) -> Vec<(String, usize, usize)> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut dirs = vec![dist.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("read dist").flatten() {
            let p = entry.path();
            let rel = p.strip_prefix(dist).unwrap_or(&p).to_string_lossy().into_owned();
            if p.is_dir() && !rel.starts_with("local-model") {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "wasm") {
                let raw = std::fs::read(&p).expect("read wasm");
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                gz.write_all(&raw).expect("gzip");
                out.push((rel, raw.len(), gz.finish().expect("gzip").len()));
            }
        }
    }
    // The shell first, then the chunks by size.
    out.sort_by_key(|(name, _, gz)| (!name.ends_with("ethos-app_bg.wasm"), std::cmp::Reverse(*gz)));
    out
}

/// What each part of the page (a `deferred!` chunk of src/chunks.rs) downloads when first used:
/// its own `split_<part>.wasm` and the shared chunks it needs, read off the loader wasm-split
/// writes (`__wasm_split.js`: a shared chunk's fetch is preceded by `/* part, part, … */`).
#[cfg(not(target_arch = "wasm32"))]
fn parts(dist: &std::path::Path, files: &[(String, usize, usize)]) -> Vec<(String, usize, usize)> {
    let Some((shell, _, _)) = files.first() else { return Vec::new() };
    let dir = std::path::Path::new(shell).parent().unwrap_or(std::path::Path::new(""));
    let Ok(js) = std::fs::read_to_string(dist.join(dir).join("__wasm_split.js")) else { return Vec::new() };
    let size = |file: &str| {
        let rel = dir.join(file).to_string_lossy().into_owned();
        files.iter().find(|f| f.0 == rel).map_or((0, 0), |f| (f.1, f.2))
    };
    let mut users: Vec<(Vec<String>, String)> = Vec::new();
    let mut pending: Option<Vec<String>> = None;
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for line in js.lines() {
        let line = line.trim();
        if let Some(list) = line.strip_prefix("/* ").and_then(|l| l.strip_suffix(" */")) {
            pending = Some(list.split(", ").map(str::to_string).collect());
        } else if let Some(file) = line.split('"').nth(1).filter(|f| f.ends_with(".wasm")) {
            let file = file.trim_start_matches("./").to_string();
            if let Some(part) = file.strip_prefix("split_").and_then(|f| f.strip_suffix(".wasm")) {
                let (raw, gz) = size(&file);
                out.push((part.to_string(), raw, gz));
            } else if let Some(list) = pending.take() {
                users.push((list, file));
            }
        }
    }
    for (part, raw, gz) in &mut out {
        for (list, file) in &users {
            if list.iter().any(|p| p == part) {
                let (r, g) = size(file);
                *raw += r;
                *gz += g;
            }
        }
    }
    out.sort();
    out
}

/// Median time to the first contentful paint and to the scenario list (ms) over cold loads.
#[cfg(not(target_arch = "wasm32"))]
async fn paint(url: &str) -> (f64, f64) {
    use std::time::Duration;
    let b = support::Browser::start().await;
    b.client.goto(url).await.expect("open app");
    b.wait_js(
        "performance.getEntriesByName('ethos:scenario-list').length > 0",
        Duration::from_secs(60),
        "scenario list mark",
    )
    .await;
    let v = b
        .js("[performance.getEntriesByName('ethos:scenario-list')[0].startTime, (performance.getEntriesByName('first-contentful-paint')[0]||{startTime:NaN}).startTime]")
        .await;
    b.close().await;
    (v[1].as_f64().unwrap_or(f64::NAN), v[0].as_f64().unwrap_or(f64::NAN))
}

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dist = support::dist();
    let kb = |b: usize| b as f64 / 1024.0;
    let target = 350.0 * 1024.0;
    let files = wasm_files(&dist);
    assert!(
        files.first().is_some_and(|(n, _, _)| n.ends_with("ethos-app_bg.wasm")),
        "no wasm-*/ethos-app_bg.wasm in dist/: {files:?}"
    );
    println!("## App shell size (release dist/, gzip -9)");
    for (i, (name, raw, gz)) in files.iter().enumerate() {
        let what = if i == 0 { "shell" } else { "chunk" };
        let ratio = if i == 0 { format!("  (target 350 KB: ratio {:.2})", *gz as f64 / target) } else { String::new() };
        println!("{what} {name:<48} raw {:>8.1} KB  gzip {:>7.1} KB{ratio}", kb(*raw), kb(*gz));
    }
    let total: usize = files.iter().map(|f| f.2).sum();
    println!("all wasm of the page (gzip):  {:>7.1} KB", kb(total));
    println!("## What each part fetches on first use (its chunk + the shared chunks it needs)");
    for (part, raw, gz) in parts(&dist, &files) {
        println!("part {part:<10} raw {:>8.1} KB  gzip {:>7.1} KB", kb(raw), kb(gz));
    }

    // The same page built as one wasm (SPLIT=0 trunk build --release --dist dist-unsplit; bench/run.sh
    // builds it), loaded in turn with the split one so both see the same machine.
    let unsplit = support::root().join("dist-unsplit");
    let baseline = unsplit.join("index.html").exists();
    if baseline {
        let files = wasm_files(&unsplit);
        let (raw, gz) = files.iter().fold((0, 0), |a, f| (a.0 + f.1, a.1 + f.2));
        println!("unsplit build (dist-unsplit/): raw {:>8.1} KB  gzip {:>7.1} KB", kb(raw), kb(gz));
    } else {
        println!("(no dist-unsplit/: the one-wasm build is not measured beside it)");
    }
    let server = support::StaticServer::start(&dist).await;
    let base_server = if baseline { Some(support::StaticServer::start(&unsplit).await) } else { None };
    let runs = 5;
    let (mut split, mut one) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        split.push(paint(&server.url()).await);
        if let Some(s) = &base_server {
            one.push(paint(&s.url()).await);
        }
    }
    let med = |v: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| {
        let mut x: Vec<f64> = v.iter().map(pick).collect();
        x.sort_by(|a, b| a.total_cmp(b));
        x[x.len() / 2]
    };
    println!("## First paint (median of {runs} cold loads each, fresh profile, alternating)");
    let (f, l) = (med(&split, |p| p.0), med(&split, |p| p.1));
    println!("split:   first contentful paint {f:>6.0} ms, scenario list painted {l:>6.0} ms");
    if !one.is_empty() {
        let (f1, l1) = (med(&one, |p| p.0), med(&one, |p| p.1));
        println!("unsplit: first contentful paint {f1:>6.0} ms, scenario list painted {l1:>6.0} ms");
        println!("scenario list, split / unsplit: {:.2}", l / l1);
    }
}
