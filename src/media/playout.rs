//! The speaker's queue: audio from the call's jitter buffer (`media::audio_jitter`) waits here
//! for the sound card's callback. The receive pipeline keeps it a period or two deep; it holds
//! `target` before it starts, plays silence and fills up again after running dry, and drops
//! the oldest audio when it holds too much, so delay stays bounded.

use std::collections::VecDeque;

/// What happened to the buffer, for the report and the window.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlayoutStats {
    /// Samples handed to the device (real audio, not fill).
    pub played: u64,
    /// Samples of silence handed to the device while the buffer was empty or filling.
    pub silence: u64,
    /// Times the buffer ran dry during playback.
    pub underruns: u64,
    /// Samples dropped because too much was waiting.
    pub dropped: u64,
}

/// A mono sample queue with a target depth.
#[derive(Debug)]
pub struct PlayoutBuffer {
    queue: VecDeque<f32>,
    target: usize,
    max: usize,
    /// Playing from the queue (false while filling up to `target`).
    playing: bool,
    stats: PlayoutStats,
}

impl PlayoutBuffer {
    /// A buffer that starts playing once `target` samples wait, and never holds more than
    /// `max` (older samples are dropped).
    pub fn new(target: usize, max: usize) -> Self {
        let max = max.max(target + 1);
        Self {
            queue: VecDeque::with_capacity(max),
            target,
            max,
            playing: false,
            stats: PlayoutStats::default(),
        }
    }

    /// Adds decoded samples.
    pub fn push(&mut self, samples: &[f32]) {
        self.queue.extend(samples);
        let excess = self.queue.len().saturating_sub(self.max);
        if excess > 0 {
            // Keep `target` after a drop, not `max`: the delay falls back to its goal.
            let drop = self.queue.len() - self.target;
            self.queue.drain(..drop);
            self.stats.dropped += drop as u64;
        }
    }

    /// Fills `out` with the next samples, silence where there are none.
    pub fn pull(&mut self, out: &mut [f32]) {
        if !self.playing && self.queue.len() >= self.target {
            self.playing = true;
        }
        let mut n = 0;
        if self.playing {
            n = out.len().min(self.queue.len());
            for (o, s) in out.iter_mut().zip(self.queue.drain(..n)) {
                *o = s;
            }
            if n < out.len() {
                self.playing = false;
                self.stats.underruns += 1;
            }
        }
        out[n..].fill(0.0);
        self.stats.played += n as u64;
        self.stats.silence += (out.len() - n) as u64;
    }

    /// Samples waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// What happened so far.
    pub fn stats(&self) -> PlayoutStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_before_playing_and_again_after_running_dry() {
        let mut b = PlayoutBuffer::new(100, 1000);
        let mut out = [1.0f32; 60];
        b.push(&[0.5; 60]);
        b.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0.0), "below target: silence");
        b.push(&[0.5; 60]);
        b.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0.5), "at target: plays");
        b.pull(&mut out);
        // 60 were left: all played, then the buffer is dry.
        assert_eq!(b.stats().underruns, 0);
        b.pull(&mut out);
        assert_eq!(b.stats().underruns, 1);
        assert!(out.iter().all(|&s| s == 0.0));
        assert_eq!(b.stats().played, 120);
        // Filling again before playing.
        b.push(&[0.25; 50]);
        b.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn a_burst_is_trimmed_back_to_the_target() {
        let mut b = PlayoutBuffer::new(100, 300);
        b.push(&[0.1; 250]);
        assert_eq!(b.len(), 250);
        b.push(&[0.2; 100]);
        assert_eq!(b.len(), 100, "over max: back to target, newest kept");
        assert_eq!(b.stats().dropped, 250);
        let mut out = [0.0f32; 100];
        b.pull(&mut out);
        assert!(out.iter().all(|&s| s == 0.2));
    }
}
