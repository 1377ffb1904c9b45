//! One component per file. Components wire signals to views; the work happens in the engine.
pub mod attribution;
pub mod custom_item;
pub mod header;
pub mod item_browser;
pub mod item_view;
pub mod model_panel;
pub mod scenario_panel;
pub mod settings_panel;
pub mod status_line;
pub mod templates_editor;
