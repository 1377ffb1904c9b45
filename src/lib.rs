//! EthosAgents in the browser: the Leptos UI. `app` builds the page from the components
//! (`components/`, one per file); `session` is the run on screen, `batch` a benchmark, `conn`
//! (`connection`) the provider, `settings` the run settings, `state` the selection and view,
//! `storage` everything kept on this device. The engine and the providers are crates of their own.
//! Browser-only: natively this library is empty (the e2e tests drive the built app).
#![cfg(target_arch = "wasm32")]

mod app;
mod batch;
mod browser;
mod catalog;
mod chunks;
mod components;
mod connection;
mod deferred;
mod deflate;
mod keys;
mod local_catalog;
mod local_model;
mod offline;
mod session;
mod settings;
mod share;
mod state;
mod storage;
mod suggestion;

/// Mount the app on the page (the binary's `main`).
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}

#[cfg(test)]
mod unit_tests;
