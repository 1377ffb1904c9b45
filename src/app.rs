use leptos::prelude::*;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <main>
            <h1>"EthosAgents"</h1>
            <p>"Pluralistic answers to health-ethics questions, orchestrated in your browser."</p>
        </main>
    }
}
