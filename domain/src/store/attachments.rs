//! Cached media (see `crate::media::MediaCache`): files fetched from Webex,
//! served publicly under a random id until they expire.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Store;
use crate::error::DomainError;

/// A cached file's description (everything but the bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFileInfo {
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// A cached file with its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub info: MediaFileInfo,
    pub content: Vec<u8>,
}

impl std::fmt::Debug for MediaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFile")
            .field("info", &self.info)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .finish()
    }
}

const INFO_COLUMNS: &str = "id, filename, mime_type, size, created_at, expires_at";

fn info_from_row(row: &AnyRow) -> Result<MediaFileInfo, sqlx::Error> {
    Ok(MediaFileInfo {
        id: row.try_get("id")?,
        filename: row.try_get("filename")?,
        mime_type: row.try_get("mime_type")?,
        size: row.try_get("size")?,
        created_at_ms: row.try_get("created_at")?,
        expires_at_ms: row.try_get("expires_at")?,
    })
}

impl Store {
    /// Stores a file, and deletes the expired ones (so the table does not
    /// grow without bound).
    pub async fn insert_media_file(
        &self,
        info: &MediaFileInfo,
        content: &[u8],
    ) -> Result<(), DomainError> {
        self.delete_expired_media(info.created_at_ms).await?;
        sqlx::query(
            "INSERT INTO attachments (id, filename, mime_type, size, content, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&info.id)
        .bind(&info.filename)
        .bind(&info.mime_type)
        .bind(info.size)
        .bind(content)
        .bind(info.created_at_ms)
        .bind(info.expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live file's description; `None` when unknown or expired at `now_ms`
    /// (an expired row is deleted).
    pub async fn media_file_info(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<MediaFileInfo>, DomainError> {
        Ok(self
            .live_media_row(id, now_ms, false)
            .await?
            .map(|(info, _)| info))
    }

    /// A live file with its bytes; `None` when unknown or expired at `now_ms`
    /// (an expired row is deleted).
    pub async fn media_file(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<MediaFile>, DomainError> {
        Ok(self
            .live_media_row(id, now_ms, true)
            .await?
            .map(|(info, content)| MediaFile {
                info,
                content: content.unwrap_or_default(),
            }))
    }

    /// The row of a live file, with its bytes when asked (HEAD needs none).
    async fn live_media_row(
        &self,
        id: &str,
        now_ms: i64,
        with_content: bool,
    ) -> Result<Option<(MediaFileInfo, Option<Vec<u8>>)>, DomainError> {
        let content = if with_content { ", content" } else { "" };
        let row = sqlx::query(&format!(
            "SELECT {INFO_COLUMNS}{content} FROM attachments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let info = info_from_row(&row)?;
        if info.expires_at_ms <= now_ms {
            self.delete_media_file(id).await?;
            return Ok(None);
        }
        let bytes = if with_content {
            Some(row.try_get("content")?)
        } else {
            None
        };
        Ok(Some((info, bytes)))
    }

    /// Deletes every file expired at `now_ms`; how many.
    pub async fn delete_expired_media(&self, now_ms: i64) -> Result<u64, DomainError> {
        let done = sqlx::query("DELETE FROM attachments WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn delete_media_file(&self, id: &str) -> Result<(), DomainError> {
        sqlx::query("DELETE FROM attachments WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
