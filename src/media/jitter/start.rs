//! Where the stream starts. Until something has gone out, the first packet to arrive is not
//! necessarily the stream's first: on a path that reorders, a keyframe's last packet can come
//! before its first ones. Taken as the start, it went out alone, the assembler found half a
//! keyframe and asked for another, and the packets that did begin it were dropped as late: the
//! first picture waited a round trip and a keyframe more (200-300 ms on the 30±10 ms path,
//! measured against Chromium as the sender). So before anything goes out, an earlier packet
//! moves the start back, and a first frame whose first packet does not begin a frame waits a
//! little for the ones before it.

use super::{Frame, JitterBuffer, MAX_NACK_HOLE, Missing};
use std::time::{Duration, Instant};

/// How long a first frame that begins mid-frame waits for its beginning: longer than packets
/// sent together are reordered (±10 ms on the 30±10 ms path), short beside the keyframe
/// request it costs when the beginning was lost.
pub(super) const START_WAIT: Duration = Duration::from_millis(40);

impl JitterBuffer {
    /// A packet before the start `next`, while nothing went out: the start moves back to it,
    /// and what lies between is missing (asked for as any hole). True when it moved.
    pub(super) fn starts_earlier(&mut self, now: Instant, seq: i64, next: i64) -> bool {
        if self.handed_on || seq >= next || next - seq > MAX_NACK_HOLE {
            return false;
        }
        let first_nack = now + self.reorder_wait;
        for s in seq + 1..next {
            if !self.held.contains_key(&s) {
                self.missing
                    .entry(s)
                    .or_insert(Missing::new(now, first_nack));
            }
        }
        self.next = Some(seq);
        true
    }

    /// A complete first frame whose first packet does not begin a frame waits [`START_WAIT`]
    /// after that packet came, for the packets before it.
    pub(super) fn unproven_start_waits(&self, mut frame: Frame, first_seq: i64) -> Frame {
        if let (Frame::Complete { release_at, .. }, false, Some(first)) =
            (&mut frame, self.handed_on, self.held.get(&first_seq))
            && !first.packet.starts_frame
        {
            *release_at = (*release_at).max(first.arrival + START_WAIT);
        }
        frame
    }
}
