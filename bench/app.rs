//! App shell benchmark: release wasm size (raw and gzip) against the 350 KB gzip target, and the
//! time to first paint of the scenario list in headless Chromium, measured side by side.
//! Run: `bench/run.sh` (builds dist/ first) or `cargo bench -p ethos-e2e --bench app`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    use std::io::Write;
    use std::time::Duration;
    let dist = support::dist();
    let mut wasm = None;
    for entry in std::fs::read_dir(&dist).expect("read dist").flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "wasm") {
            wasm = Some(p);
        }
    }
    let wasm = wasm.expect("no .wasm in dist/");
    let raw = std::fs::read(&wasm).expect("read wasm");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&raw).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let target = 350.0 * 1024.0;
    println!("## App shell size ({})", wasm.file_name().unwrap_or_default().to_string_lossy());
    println!("wasm raw:  {:>8.1} KB", raw.len() as f64 / 1024.0);
    println!("wasm gzip: {:>8.1} KB  (target 350 KB: ratio {:.2})", gz.len() as f64 / 1024.0, gz.len() as f64 / target);

    let server = support::StaticServer::start(&dist).await;
    let runs = 5;
    let mut list_ms = Vec::new();
    let mut fcp_ms = Vec::new();
    for _ in 0..runs {
        let b = support::Browser::start().await;
        b.client.goto(&server.url()).await.expect("open app");
        b.wait_js(
            "performance.getEntriesByName('ethos:scenario-list').length > 0",
            Duration::from_secs(60),
            "scenario list mark",
        )
        .await;
        let v = b
            .js("[performance.getEntriesByName('ethos:scenario-list')[0].startTime, (performance.getEntriesByName('first-contentful-paint')[0]||{startTime:NaN}).startTime]")
            .await;
        list_ms.push(v[0].as_f64().unwrap_or(f64::NAN));
        fcp_ms.push(v[1].as_f64().unwrap_or(f64::NAN));
        b.close().await;
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (l, f) = (med(&mut list_ms), med(&mut fcp_ms));
    println!("## First paint (median of {runs} cold loads, fresh profile each)");
    println!("first contentful paint:        {f:>7.0} ms");
    println!("scenario list painted:         {l:>7.0} ms  (ratio to first contentful paint {:.2})", l / f);
}
