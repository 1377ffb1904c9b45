//! The page footer: data attribution and credits.

use crate::components::offline_bar::OfflineNote;
use leptos::prelude::*;

/// Data attribution and credits, shown wherever the data is shown (the page footer).
#[component]
pub fn Attribution() -> impl IntoView {
    view! {
        <footer id="attribution" class="attribution" tabindex="-1">
            <h2>"Data & credits"</h2>
            <p>
                "Scenarios come from "
                <strong>"VITAL"</strong>
                " (Shetty, Beheshti, Dras, Naseem, ACL 2025), released under the MIT licence. "
                "Its records come from upstream datasets with their own terms: "
                "GlobalOpinionQA (CC BY-NC-SA 4.0), MoralChoice (CC BY 4.0), "
                "ValuePrism / ValueKaleidoscope (AI2 ImpACT licence, medium risk), "
                "OpinionQA (Pew Research Center terms). See "
                <a href="./NOTICE.md">"NOTICE.md"</a>
                " for sources and checksums."
            </p>
            <p>
                "Method: EthosAgents (Zhong, Shetty, Jia, Lin, Naseem, EMNLP 2025), combining "
                "step after Modular Pluralism (Feng et al., EMNLP 2024). Prompt wording here is "
                "this app's own and can be edited."
            </p>
            <p>
                "Your API key is sent only to the provider you choose. Runs are stored in this "
                "browser only."
            </p>
            <OfflineNote />
        </footer>
    }
}
