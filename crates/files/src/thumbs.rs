//! Thumbnails of raster images (PNG, JPEG, WebP, GIF) at fixed sizes, as JPEG, made by a job
//! after the upload: never SVG (no rasterising of documents that can carry script), and never
//! more than one decode at a time per instance. Image bombs are refused before any pixel is
//! decoded: the header's dimensions are checked against a pixel cap, and the decoder runs under
//! limits on width, height and allocation; the file itself is read only up to a size cap.

use std::io::Cursor;

use futures_util::TryStreamExt;
use image::{ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vextrus_db::jobs::{Job, JobContext, Registry};
use vextrus_db::{DbError, Tx};

use crate::Files;

/// The sizes made (the longer side, in pixels).
pub const SIZES: [u32; 2] = [128, 512];
/// Images with more pixels than this are not decoded (50 megapixels).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Files larger than this get no thumbnail (they are not read into memory for one).
pub const MAX_BYTES: u64 = 30 << 20;
/// What one decode may allocate.
const MAX_ALLOC: u64 = 512 << 20;

static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The decoder for a sniffed type that gets thumbnails.
pub fn format_of(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/webp" => Some(ImageFormat::WebP),
        "image/gif" => Some(ImageFormat::Gif),
        _ => None,
    }
}

/// Where a version's thumbnail of `size` is kept.
pub fn key_of(object_key: &str, size: u32) -> String {
    format!("{object_key}.thumb-{size}.jpg")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MakeThumbnails {
    pub version: Uuid,
}

impl Job for MakeThumbnails {
    const KIND: &'static str = "files.thumbnails";
}

/// The thumbnails of one image (JPEG bytes by size), or why there are none.
pub fn make(bytes: &[u8], format: ImageFormat) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let limited = |limits: Limits| {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(limits);
        reader
    };
    // The header alone (nothing is allocated for pixels), for the pixel cap's own answer.
    let (width, height) =
        limited(Limits::no_limits()).into_dimensions().map_err(|e| format!("unreadable image: {e}"))?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(format!("{width}×{height} is more than {MAX_PIXELS} pixels"));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    limits.max_alloc = Some(MAX_ALLOC);
    let image = limited(limits).decode().map_err(|e| format!("undecodable image: {e}"))?;
    let mut made = Vec::new();
    for size in SIZES {
        let small = image.thumbnail(size, size).to_rgb8();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&small)
            .map_err(|e| format!("encoding the thumbnail: {e}"))?;
        made.push((size, out));
    }
    Ok(made)
}

async fn record(ctx: &JobContext, version: Uuid, outcome: &str) -> Result<(), DbError> {
    let mut tx = ctx.db.tenant(ctx.tenant).await?;
    sqlx::query("UPDATE files.versions SET thumbnails = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(ctx.tenant)
        .bind(version)
        .bind(outcome.chars().take(200).collect::<String>())
        .execute(tx.conn())
        .await?;
    tx.commit().await
}

async fn thumbnails(files: &Files, ctx: &JobContext, version: Uuid) -> Result<(), String> {
    let mut tx = ctx.db.tenant(ctx.tenant).await.map_err(|e| e.to_string())?;
    let row: Option<(String, Option<String>, Option<i64>, String)> = sqlx::query_as(
        "SELECT object_key, content_type, size, state FROM files.versions WHERE tenant_id = $1 AND id = $2",
    )
    .bind(ctx.tenant)
    .bind(version)
    .fetch_optional(tx.conn())
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    let Some((key, Some(content_type), Some(size), state)) = row else { return Ok(()) };
    let Some(format) = format_of(&content_type) else { return Ok(()) };
    if !matches!(state.as_str(), "ready" | "unscanned") {
        return Ok(());
    }
    if size.max(0) as u64 > MAX_BYTES {
        return record(ctx, version, &format!("refused: larger than {MAX_BYTES} bytes"))
            .await
            .map_err(|e| e.to_string());
    }
    let storage = &files.inner().storage;
    let Some(object) = storage.get(&key).await.map_err(|e| e.to_string())? else { return Ok(()) };
    let bytes: Vec<bytes::Bytes> = object.bytes.try_collect().await.map_err(|e| e.to_string())?;
    let bytes = bytes.concat();
    let _permit = DECODES.acquire().await.map_err(|e| e.to_string())?;
    let made = tokio::task::spawn_blocking(move || make(&bytes, format)).await.map_err(|e| e.to_string())?;
    let outcome = match made {
        Ok(made) => {
            for (size, jpeg) in made {
                storage.put_if_absent(&key_of(&key, size), jpeg.into()).await.map_err(|e| e.to_string())?;
            }
            "made".to_owned()
        }
        Err(why) => {
            tracing::warn!(%version, %why, "no thumbnail");
            metrics::counter!("vextrus_files_thumbnails_refused_total").increment(1);
            format!("refused: {why}")
        }
    };
    record(ctx, version, &outcome).await.map_err(|e| e.to_string())
}

pub fn register_jobs(registry: &mut Registry, files: Files) {
    registry.register(move |ctx: JobContext, job: MakeThumbnails| {
        let files = files.clone();
        async move { thumbnails(&files, &ctx, job.version).await.map_err(Into::into) }
    });
}
