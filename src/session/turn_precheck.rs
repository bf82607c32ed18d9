//! Before a call, every TURN server is asked for an allocation, so a wrong password or a dead
//! server is said up front (in the report, the log and the window) instead of as a failed call.

use crate::peer::turn_check::{self, TurnCheck, TurnStatus};
use crate::peer::turn_stream::{StreamUrl, TurnBridges};
use crate::report::TurnReport;
use webrtc::peer_connection::RTCIceServer;

/// Asks every TURN url for an allocation, all at once, 3 s at most. TCP and TLS urls are
/// asked through their bridges, so the check covers the path the call will take.
pub async fn check_turn_servers(servers: &[RTCIceServer], bridges: &TurnBridges) -> Vec<TurnCheck> {
    let mut checks = Vec::new();
    for s in servers {
        for url in &s.urls {
            if !url.starts_with("turn:") && !url.starts_with("turns:") {
                continue;
            }
            let via = match StreamUrl::parse(url) {
                Ok(None) => Ok(url.clone()),
                Ok(Some(_)) => bridges
                    .local_url(url)
                    .ok_or_else(|| bridges.problem(url).unwrap_or_else(|| "not bridged".into())),
                Err(why) => Err(why),
            };
            let (url, user, pass) = (url.clone(), s.username.clone(), s.credential.clone());
            checks.push(async move {
                let via = match via {
                    Ok(via) => via,
                    Err(why) => {
                        return TurnCheck {
                            url,
                            status: TurnStatus::Failed(why),
                        };
                    }
                };
                let mut check =
                    turn_check::check(&via, &user, &pass, std::time::Duration::from_secs(3)).await;
                // Through a bridge, the connection's own error says more than a timeout.
                if via != url
                    && !matches!(check.status, TurnStatus::Ok { .. })
                    && let Some(why) = bridges.problem(&url)
                {
                    check.status = TurnStatus::Failed(why);
                }
                check.url = url;
                check
            });
        }
    }
    futures::future::join_all(checks).await
}

/// A TURN server's answer, as the report gives it.
pub fn turn_report(t: &TurnCheck) -> TurnReport {
    let (relayed, ms) = match &t.status {
        TurnStatus::Ok { relayed, took } => {
            (Some(relayed.to_string()), Some(took.as_millis() as u64))
        }
        _ => (None, None),
    };
    TurnReport {
        url: t.url.clone(),
        ok: relayed.is_some(),
        relayed,
        ms,
        error: t.problem(),
    }
}
