//! Releasing frames: what is due goes on, a hole whose answers are overdue is given up, and
//! every released frame teaches the lateness estimator and the timeline.

use super::timeline::Timeline;
use super::{Frame, JitterBuffer, KEYFRAME_ANSWER, MAX_HELD, REORDER_MEMORY, SLACK};
use std::time::{Duration, Instant};

impl JitterBuffer {
    /// Moves what is due into `out`; false when nothing moved.
    pub(super) fn release(&mut self, now: Instant) -> bool {
        let before = (self.next, self.out.len());
        // Too much held: the oldest go on, holes or not.
        while self.held.len() > MAX_HELD {
            let Some((&seq, _)) = self.held.iter().next() else {
                break;
            };
            self.give_up_before(seq + 1);
            if let Some(h) = self.held.remove(&seq) {
                self.out.push_back(h.packet);
            }
            self.next = Some(self.next.map_or(seq + 1, |n| n.max(seq + 1)));
        }
        let Some(next) = self.next else {
            return false;
        };
        match self.frame_at(next) {
            Some(Frame::Complete {
                first,
                last,
                ts,
                completed,
                release_at,
                retransmitted,
            }) if now + SLACK >= release_at => {
                for s in first..=last {
                    if let Some(h) = self.held.remove(&s) {
                        self.out.push_back(h.packet);
                    }
                }
                self.next = Some(last + 1);
                self.frame_released(now, ts, completed, retransmitted);
            }
            Some(Frame::Hole { seq }) => {
                let give_up = self
                    .missing
                    .get(&seq)
                    .map(|m| m.first_seen + self.give_up_after());
                if give_up.is_some_and(|t| now >= t) {
                    self.gave_up_at = Some(now);
                    tracing::debug!(
                        seq,
                        after_ms = self.give_up_after().as_millis() as u64,
                        "video packet given up"
                    );
                    // The packets before the hole go on; the assembler sees the gap.
                    let resume = self.held.range(seq..).next().map(|(&s, _)| s);
                    for s in next..seq {
                        if let Some(h) = self.held.remove(&s) {
                            self.out.push_back(h.packet);
                        }
                    }
                    if let Some(resume) = resume {
                        self.give_up_before(resume);
                        self.next = Some(resume);
                    }
                }
            }
            _ => {}
        }
        self.handed_on |= self.out.len() > before.1;
        before != (self.next, self.out.len())
    }

    /// Missing packets before `seq` are given up on.
    pub(super) fn give_up_before(&mut self, seq: i64) {
        let lost: Vec<i64> = self.missing.range(..seq).map(|(&s, _)| s).collect();
        for s in lost {
            self.missing.remove(&s);
            self.stats.lost_packets += 1;
        }
    }

    fn frame_released(&mut self, now: Instant, ts: i64, completed: Instant, retransmitted: bool) {
        self.last_ts = Some(ts);
        self.stats.frames += 1;
        self.stats.waited += now.saturating_duration_since(completed);
        // The fastest frames' timeline, and how late this frame is on it.
        let late_ms = match &mut self.anchor {
            None => {
                self.anchor = Some(Timeline::new(completed, ts));
                0.0
            }
            Some(timeline) => timeline.observe(completed, ts),
        };
        // A frame a retransmission completed is late by the round trip, which the retransmit
        // allowance covers; taken for jitter, every loss would add a round trip or more to the
        // target for seconds. As libwebrtc, such frames are left out.
        tracing::trace!(
            waited_ms = now.saturating_duration_since(completed).as_millis() as u64,
            late_ms,
            target_ms = self.target().as_millis() as u64,
            retransmitted,
            rtt_ms = self.rtt.as_millis() as u64,
            "video frame released"
        );
        // Nor are the frames of the sender's answer to a give-up (a keyframe, and what queued
        // behind it): one such episode in the window held every frame 200+ ms for 3 s.
        let recovering = self
            .gave_up_at
            .is_some_and(|t| completed.saturating_duration_since(t) < self.rtt + KEYFRAME_ANSWER);
        if !retransmitted && !recovering {
            self.estimator.update(completed, late_ms);
        }
        // Without recoveries the allowance fades over a few seconds of frames.
        self.retransmit_share *= 0.99;
        if self.retransmit_share < 0.01 {
            self.retransmit_share = 0.0;
        }
        // Without reordering for a while, holes are NACKed at once again (one burst of it
        // must not delay every recovery for the rest of the call). Not sooner: on a jittery
        // path a fading wait NACKed the reordered packets, and their needless retransmissions
        // doubled the delay.
        if self
            .last_reorder
            .is_some_and(|t| now.saturating_duration_since(t) > REORDER_MEMORY)
        {
            self.reorder_wait = Duration::ZERO;
            self.last_reorder = None;
        }
    }
}
