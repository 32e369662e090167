//! Files the customer sent: kept, and served at a public URL as a provider
//! would host them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::{Media, Shared};

/// Media the customer sent, at a public URL as a provider would host it.
pub async fn media(
    State(sandbox): State<Shared>,
    Path((id, filename)): Path<(String, String)>,
) -> Response {
    let world = sandbox.world();
    match world.media.get(&id) {
        Some(media) => {
            crate::files::file_response(media.bytes.clone(), &media.content_type, &filename)
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Keeps a file the customer sent and returns its public URL.
pub fn store_media(
    sandbox: &Shared,
    world: &mut crate::state::World,
    bytes: Bytes,
    content_type: &str,
    filename: &str,
) -> String {
    let id = crate::state::random_token(16);
    let safe_name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let url = sandbox.url(&format!("/connect/media/{id}/{safe_name}"));
    world.media.insert(
        id,
        Media {
            bytes,
            content_type: content_type.to_string(),
        },
    );
    url
}
