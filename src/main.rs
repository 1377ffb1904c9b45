//! The page's entry point: Trunk builds this binary into `dist/` (the app is `src/lib.rs`).

fn main() {
    #[cfg(target_arch = "wasm32")]
    ethos_app::start();
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("ethos-app is a browser app: build it with `trunk build --release`, or serve it with ./scripts/serve.sh");
}
