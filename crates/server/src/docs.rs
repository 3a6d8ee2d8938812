//! `/docs`: a small, self-contained API reference rendered in the browser from `/openapi.json`.
//! Everything is in the binary; nothing is loaded from a CDN.

use axum::response::Html;

pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
