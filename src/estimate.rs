//! The pre-run estimate of calls and tokens lives in the engine (natively tested there):
//! [`ethos_engine::estimate`].

pub use ethos_engine::estimate::estimate;
