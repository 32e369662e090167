-- Cached media in chunks (see domain/src/store/attachments.rs): a file is
-- written as its download streams in and served one chunk at a time, so no
-- transfer holds a whole file in memory. The attachments row, added last,
-- makes the file visible; its `content` column is no longer used.
CREATE TABLE media_chunks (
    media_id   TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    bytes      BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (media_id, seq)
);
CREATE INDEX media_chunks_created ON media_chunks (created_at);

-- Files cached before this migration: their bytes become their one chunk.
INSERT INTO media_chunks (media_id, seq, bytes, created_at)
    SELECT id, 0, content, created_at FROM attachments;
UPDATE attachments SET content = x'';
