//! EthosAgents engine: data types, VITAL loaders, prompt templates, perspective parsing,
//! the pipeline per mode (generic over [`chat::ChatModel`]), distribution reading, metrics and
//! run records. No browser APIs, no UI: everything here builds and tests natively.

pub mod answer;
pub mod attrition;
pub mod batch;
pub mod chat;
pub mod compare;
pub mod distribution;
pub mod estimate;
pub mod metrics;
pub mod persona;
pub mod pipeline;
pub mod poll;
pub mod provenance;
pub mod quality;
pub mod record;
pub mod reference;
pub mod scores;
pub mod settings;
pub mod share;
pub mod template;
pub mod vital;

pub use chat::{
    ChatError, ChatModel, ChatRequest, ChatResponse, Message, Role, SentParams, TokenLogprob, Usage,
};
pub use vital::{Item, ItemId, Mode, Source};
