//! The embedded default: a run with no signaling server configured hosts one.

use crate::report::Hosting;
use crate::server::{RoomServer, ServeOptions};
use crate::signaling::room::Room;

/// The built-in room server could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot host a room server ({0}); give --listen ADDR, or --server URL")]
pub struct HostError(String);

/// Starts the built-in room server for a run without a configured server. If its address is
/// taken, another roompeer is probably hosting there already, and the run joins that one.
/// Returns the server (kept for the run) and what happened, for the report.
pub async fn host_room_server(
    opts: &ServeOptions,
    room: &Room,
) -> Result<(Option<RoomServer>, Option<Hosting>), HostError> {
    match RoomServer::start(opts).await {
        Ok(server) => {
            let mut hosting = None;
            if let Some(addr) = server.http {
                let query = room
                    .0
                    .as_ref()
                    .map(|r| {
                        format!(
                            "?room={}",
                            url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()
                        )
                    })
                    .unwrap_or_default();
                let page = format!("http://{addr}/index.html{query}");
                tracing::info!(
                    "no --server given: hosting a room server at http://{addr}; a browser on this \
                     machine joins the call at {page}"
                );
                hosting = Some(Hosting::Hosted { page });
            }
            Ok((Some(server), hosting))
        }
        Err(e) if e.is_address_in_use() => {
            tracing::info!("{e}: joining the room server already there");
            Ok((None, Some(Hosting::AlreadyThere)))
        }
        Err(e) => Err(HostError(e.to_string())),
    }
}
