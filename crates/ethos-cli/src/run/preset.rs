//! The run settings of `ethos run`, and `--preset reference`: the same one switch as the app's
//! "Reproduce the reference" ([`ethos_engine::reference`]). The preset needs to know what the
//! endpoint offers (log-probabilities, raw completion, seeds): the capability probe asks it (two
//! or three tiny calls), unless the batch stored beside OUT already recorded the answer (a resumed
//! batch keeps the settings it started with).

use super::store::{self, Paths};
use super::RunArgs;
use ethos_engine::reference::{reference_settings, ProviderFacts};
use ethos_engine::settings::RunSettings;
use ethos_providers::client::{Capability, CapabilityCache};
use ethos_providers::native::NativeTransport;
use ethos_providers::{Client, Endpoint, Protocol};

/// The settings of the batch: the command line's, or the preset's for `facts` with the
/// settings options given on the command line applied over it.
pub fn settings(args: &RunArgs, facts: Option<ProviderFacts>) -> RunSettings {
    let mut base = RunSettings::with_model(args.model.clone());
    base.seed = args.seed;
    base.concurrency = args.concurrency * args.base_urls.len();
    let mut s = match facts {
        Some(facts) => reference_settings(&base, facts),
        None => base,
    };
    let given = |k: &str| facts.is_none() || args.given.contains(&k);
    if given("--k") {
        s.k = args.k;
    }
    if given("--dist") {
        s.distribution = args.dist;
    }
    if given("--perspectives") {
        s.structured_perspectives = args.structured_perspectives;
        if args.structured_perspectives {
            // JSON perspectives are not `#` lines: the reference parsing cannot read them.
            s.reference_parsing = false;
        }
    }
    if args.score_failed {
        s.score_failed_as_reference = true;
    }
    s
}

/// What the endpoint offers, for `--preset reference`: recorded by the batch beside OUT (unless
/// `--fresh`), else learnt by the capability probe on the first `--base-url` (its answers land
/// in `caps`, which the batch's clients share).
pub async fn facts(
    args: &RunArgs,
    paths: &Paths,
    key: Option<String>,
    caps: &CapabilityCache,
) -> Result<ProviderFacts, String> {
    if !args.fresh {
        if let Ok(Some(stored)) = store::read_spec(&paths.spec) {
            if let Some(p) = stored.spec.settings.preset {
                return Ok(p.facts);
            }
        }
    }
    let url = args.base_urls.first().cloned().unwrap_or_default();
    let transport = NativeTransport::new().map_err(|e| e.to_string())?;
    let endpoint = Endpoint::new(args.protocol, url.clone(), key, "custom");
    let client = Client::new(endpoint, transport).with_capability_cache(caps.clone());
    let report = ethos_providers::probe::probe_capabilities(&client, &args.model)
        .await
        .map_err(|e| {
            format!(
                "--preset reference probes what {url} offers (log-probabilities, raw completion, \
                 seeds) and the probe failed: {e}"
            )
        })?;
    let c = report.capabilities;
    Ok(ProviderFacts {
        logprobs: c.logprobs == Capability::Yes,
        raw_completion: c.raw_completion == Capability::Yes,
        seed: args.protocol == Protocol::OpenAi && !c.no_seed,
    })
}
