//! `GET /v1/audit/export`: the whole trail, streamed page by page (never held in memory), as
//! NDJSON (one event per line, exactly what the chain hashes) or CSV (with a column of local
//! time in the organization's time zone, for people reading it in a spreadsheet).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use vextrus_access::Permitted;
use vextrus_audit::Event;
use vextrus_db::{Database, DbError, TenantId};
use vextrus_server::{ApiError, Problem, Query};

use crate::EventsExport;

const PAGE: u32 = 1_000;

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ndjson,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `ndjson` (default) or `csv`.
    pub format: Option<Format>,
}

/// Export the organization's whole audit trail (platform operators: the platform's), oldest
/// first, streamed.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "`application/x-ndjson` (one event per line) or `text/csv`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    permitted: Permitted<EventsExport>,
    State(db): State<Database>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let tenant = crate::chain_of(&permitted);
    let format = params.format.unwrap_or(Format::Ndjson);
    // The file is named after the organization, and its local times are in the organization's
    // zone; the platform's chain uses the platform's defaults.
    let (name, timezone) = if tenant == TenantId::PLATFORM {
        ("platform".to_owned(), vextrus_tenancy::Timezone::default().as_str().to_owned())
    } else {
        let mut tx = db.tenant(tenant).await?;
        let org = vextrus_tenancy::service::current(&mut tx).await?;
        tx.commit().await?;
        (org.slug.to_string(), org.settings.timezone.as_str().to_owned())
    };
    let header_line =
        matches!(format, Format::Csv).then(|| Ok::<_, std::io::Error>(Bytes::from(csv_header(&timezone))));
    let pages_db = db.clone();
    let pages = futures_util::stream::unfold(Some(0i64), move |after| {
        let (db, timezone) = (pages_db.clone(), timezone.clone());
        async move {
            let after = after?;
            match page(&db, tenant, after, &timezone).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let last = rows.last().map(|(e, _)| e.seq);
                    let text: String = rows.iter().map(|(e, local)| render(format, e, local)).collect();
                    Some((Ok(Bytes::from(text)), last))
                }
                Err(e) => {
                    // The status line is long gone: the client sees a cut-off body, and the log why.
                    tracing::error!(error = %vextrus_db::error_chain(&e), "audit export failed part-way");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    // NDJSON ends with the chain's signed checkpoints, so the file alone can be verified.
    let checkpoints = futures_util::stream::once({
        let db = db.clone();
        async move {
            if matches!(format, Format::Csv) {
                return Ok(Bytes::new());
            }
            let lines = async {
                let mut tx = db.tenant(tenant).await?;
                let sealed = vextrus_audit::checkpoint::of_tenant(&mut tx, tenant).await?;
                tx.commit().await?;
                Ok::<_, DbError>(
                    sealed
                        .into_iter()
                        .map(|c| format!("{}\n", serde_json::json!({"checkpoint": c})))
                        .collect::<String>(),
                )
            };
            lines.await.map(Bytes::from).map_err(|e| std::io::Error::other(e.to_string()))
        }
    });
    let stream = futures_util::StreamExt::chain(
        futures_util::StreamExt::chain(futures_util::stream::iter(header_line), pages),
        checkpoints,
    );
    let mut response = Body::from_stream(stream).into_response();
    let (content_type, extension) = match format {
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"audit-{name}.{extension}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

async fn page(db: &Database, tenant: TenantId, after: i64, timezone: &str) -> Result<Vec<(Event, String)>, DbError> {
    let mut tx = db.tenant(tenant).await?;
    let rows = vextrus_audit::export_page(&mut tx, tenant, after, PAGE, timezone).await?;
    tx.commit().await?;
    Ok(rows)
}

const CSV_COLUMNS: &[&str] = &[
    "seq",
    "id",
    "occurred_at",
    "occurred_at_local",
    "actor_type",
    "actor_id",
    "actor_username",
    "actor_ip",
    "actor_user_agent",
    "request_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "changes",
    "metadata",
    "prev_hash",
    "hash",
];

fn csv_header(timezone: &str) -> String {
    let mut columns: Vec<String> = CSV_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    columns[3] = format!("occurred_at_local ({timezone})");
    csv_line(columns.iter().map(String::as_str))
}

fn render(format: Format, e: &Event, local: &str) -> String {
    match format {
        Format::Ndjson => format!("{}\n", serde_json::to_string(e).unwrap_or_default()),
        Format::Csv => {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            let fields = [
                e.seq.to_string(),
                e.id.to_string(),
                e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                local.to_owned(),
                e.actor.kind.as_str().to_owned(),
                e.actor.id.map(|i| i.to_string()).unwrap_or_default(),
                opt(&e.actor.username),
                opt(&e.actor.ip),
                opt(&e.actor.user_agent),
                opt(&e.actor.request_id),
                e.action.clone(),
                e.target.as_ref().map(|t| t.kind.clone()).unwrap_or_default(),
                e.target.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
                e.outcome.as_str().to_owned(),
                e.changes.to_string(),
                e.metadata.to_string(),
                e.prev_hash.clone(),
                e.hash.clone(),
            ];
            csv_line(fields.iter().map(String::as_str))
        }
    }
}

/// RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled. A field that
/// a spreadsheet would run as a formula gets a leading apostrophe (CSV injection).
fn csv_line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = fields
        .map(|f| {
            let f = if f.starts_with(['=', '+', '-', '@']) { format!("'{f}") } else { f.to_owned() };
            if f.contains([',', '"', '\n', '\r']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f }
        })
        .collect();
    format!("{}\r\n", quoted.join(","))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(
            super::csv_line(["a", "b,c", "say \"hi\"", "=SUM(A1)"].into_iter()),
            "a,\"b,c\",\"say \"\"hi\"\"\",'=SUM(A1)\r\n"
        );
    }
}
