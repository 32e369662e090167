//! Cached media (see `relay::media::MediaCache`): files fetched from Webex,
//! served publicly under a random id until they expire. The bytes are in
//! `media_chunks` ([`MEDIA_CHUNK_BYTES`] each, in order), written as the
//! download streams in and read one at a time when served; the
//! `attachments` row, added last, makes the file visible.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Store;
use domain::error::DomainError;

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

pub(crate) const INFO_COLUMNS: &str = "id, filename, mime_type, size, created_at, expires_at";

pub(crate) fn info_from_row(row: &AnyRow) -> Result<MediaFileInfo, sqlx::Error> {
    Ok(MediaFileInfo {
        id: row.try_get("id")?,
        filename: row.try_get("filename")?,
        mime_type: row.try_get("mime_type")?,
        size: row.try_get("size")?,
        created_at_ms: row.try_get("created_at")?,
        expires_at_ms: row.try_get("expires_at")?,
    })
}

/// Bytes per stored chunk: a file is written and served one chunk at a
/// time, so memory per transfer stays about this size.
pub const MEDIA_CHUNK_BYTES: usize = 256 * 1024;

/// Chunks without a file row this old are left over from a crash mid-download.
const ORPHAN_CHUNK_AGE_MS: i64 = 24 * 3600 * 1000;

impl Store {
    /// Stores one chunk of a file being downloaded (`seq` from 0). The file
    /// is not served until [`Store::insert_media_info`] adds its row.
    pub async fn insert_media_chunk(
        &self,
        media_id: &str,
        seq: i64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO media_chunks (media_id, seq, bytes, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(media_id)
        .bind(seq)
        .bind(bytes)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Makes a file whose chunks are all stored visible, and deletes the
    /// expired ones (so the tables do not grow without bound).
    pub async fn insert_media_info(&self, info: &MediaFileInfo) -> Result<(), DomainError> {
        self.delete_expired_media(info.created_at_ms).await?;
        sqlx::query(
            "INSERT INTO attachments (id, filename, mime_type, size, content, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&info.id)
        .bind(&info.filename)
        .bind(&info.mime_type)
        .bind(info.size)
        // The bytes are in media_chunks; the column predates them.
        .bind(Vec::<u8>::new())
        .bind(info.created_at_ms)
        .bind(info.expires_at_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Stores a whole file at once, in chunks (small files and tests; the
    /// media cache streams with [`Store::insert_media_chunk`]).
    pub async fn insert_media_file(
        &self,
        info: &MediaFileInfo,
        content: &[u8],
    ) -> Result<(), DomainError> {
        for (seq, chunk) in content.chunks(MEDIA_CHUNK_BYTES).enumerate() {
            self.insert_media_chunk(&info.id, seq as i64, chunk, info.created_at_ms)
                .await?;
        }
        self.insert_media_info(info).await
    }

    /// Deletes the chunks of a download that failed.
    pub async fn delete_media_chunks(&self, media_id: &str) -> Result<(), DomainError> {
        sqlx::query("DELETE FROM media_chunks WHERE media_id = $1")
            .bind(media_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// One chunk of a file (`None` past the last).
    pub async fn media_chunk(
        &self,
        media_id: &str,
        seq: i64,
    ) -> Result<Option<Vec<u8>>, DomainError> {
        let row = sqlx::query("SELECT bytes FROM media_chunks WHERE media_id = $1 AND seq = $2")
            .bind(media_id)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("bytes")).transpose()?)
    }

    /// How many chunks and bytes are stored, all files together (for
    /// operators and tests: what a refused download left behind).
    pub async fn media_chunks_stored(&self) -> Result<(i64, i64), DomainError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(LENGTH(bytes)), 0) AS BIGINT) AS total FROM media_chunks",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("total")?))
    }

    /// A live file's description; `None` when unknown or expired at `now_ms`
    /// (an expired file is deleted).
    pub async fn media_file_info(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<MediaFileInfo>, DomainError> {
        let row = sqlx::query(&format!(
            "SELECT {INFO_COLUMNS} FROM attachments WHERE id = $1"
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
        Ok(Some(info))
    }

    /// A live file with all its bytes in memory (small files and tests;
    /// `/media` streams chunk by chunk); `None` when unknown or expired.
    pub async fn media_file(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<MediaFile>, DomainError> {
        let Some(info) = self.media_file_info(id, now_ms).await? else {
            return Ok(None);
        };
        let mut content = Vec::new();
        let mut seq = 0;
        while let Some(chunk) = self.media_chunk(id, seq).await? {
            content.extend_from_slice(&chunk);
            seq += 1;
        }
        Ok(Some(MediaFile { info, content }))
    }

    /// Deletes every file expired at `now_ms` (and chunks a crash left
    /// without a file); how many files.
    pub async fn delete_expired_media(&self, now_ms: i64) -> Result<u64, DomainError> {
        sqlx::query(
            "DELETE FROM media_chunks WHERE media_id IN (SELECT id FROM attachments WHERE expires_at <= $1)",
        )
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        let done = sqlx::query("DELETE FROM attachments WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.writer)
            .await?;
        sqlx::query(
            "DELETE FROM media_chunks WHERE created_at <= $1
             AND media_id NOT IN (SELECT id FROM attachments)",
        )
        .bind(now_ms - ORPHAN_CHUNK_AGE_MS)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn delete_media_file(&self, id: &str) -> Result<(), DomainError> {
        self.delete_media_chunks(id).await?;
        sqlx::query("DELETE FROM attachments WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
