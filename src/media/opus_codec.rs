//! Opus at 48 kHz, mono (the SDP says two channels, as WebRTC requires; decoders downmix).

use super::tone::{FRAME_SAMPLES, SAMPLE_RATE};
use crate::media::CodecError;

/// Encodes 20 ms mono frames.
pub struct OpusEncoder(opus::Encoder);

impl OpusEncoder {
    /// A VoIP encoder at 32 kb/s.
    pub fn new() -> Result<Self, CodecError> {
        let mut e = opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
            .map_err(|e| CodecError::Start {
                codec: "Opus",
                part: "encoder",
                detail: e.to_string(),
            })?;
        let _ = e.set_bitrate(opus::Bitrate::Bits(32_000));
        // In-band FEC (what `useinbandfec=1` asks for): Opus adds it in proportion to the loss
        // it is told of, so a clean link pays nothing.
        let _ = e.set_inband_fec(true);
        Ok(Self(e))
    }

    /// The loss the peer reports, %: Opus puts that much redundancy into the next packets.
    pub fn expect_loss(&mut self, percent: u8) {
        let _ = self.0.set_packet_loss_perc(i32::from(percent.min(100)));
    }

    /// Encodes one 20 ms frame of mono samples.
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, CodecError> {
        self.0
            .encode_vec(pcm, 1500)
            .map_err(|e| CodecError::Encode {
                codec: "Opus",
                detail: e.to_string(),
            })
    }
}

/// Decodes Opus packets to mono.
pub struct OpusDecoder {
    decoder: opus::Decoder,
    buf: Vec<i16>,
}

impl OpusDecoder {
    /// A mono decoder at 48 kHz.
    pub fn new() -> Result<Self, CodecError> {
        let decoder = opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).map_err(|e| {
            CodecError::Start {
                codec: "Opus",
                part: "decoder",
                detail: e.to_string(),
            }
        })?;
        // Up to 120 ms per packet.
        Ok(Self {
            decoder,
            buf: vec![0; FRAME_SAMPLES * 6],
        })
    }

    /// Decodes one packet; returns its samples.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[i16], CodecError> {
        let n = self
            .decoder
            .decode(packet, &mut self.buf, false)
            .map_err(|e| CodecError::Decode {
                codec: "Opus",
                detail: e.to_string(),
            })?;
        Ok(&self.buf[..n])
    }

    /// Rebuilds the `samples` before `next` from the in-band FEC `next` carries (Opus's LBRR);
    /// where it carries none, Opus conceals instead, which the caller cannot tell apart, so it
    /// is asked only when the peer negotiated `useinbandfec=1`.
    pub fn decode_redundancy(&mut self, next: &[u8], samples: usize) -> Result<&[i16], CodecError> {
        let samples = samples.min(self.buf.len());
        let n = self
            .decoder
            .decode(next, &mut self.buf[..samples], true)
            .map_err(|e| CodecError::Decode {
                codec: "Opus",
                detail: e.to_string(),
            })?;
        Ok(&self.buf[..n])
    }

    /// Conceals `samples` of audio that did not come (Opus's packet-loss concealment).
    pub fn decode_missing(&mut self, samples: usize) -> Result<&[i16], CodecError> {
        let samples = samples.min(self.buf.len());
        let n = self
            .decoder
            .decode(&[], &mut self.buf[..samples], false)
            .map_err(|e| CodecError::Decode {
                codec: "Opus",
                detail: e.to_string(),
            })?;
        Ok(&self.buf[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::{Tone, dominant_hz};

    #[test]
    fn a_tone_survives_opus() {
        let mut enc = OpusEncoder::new().unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut tone = Tone::new(660.0);
        let mut heard = Vec::new();
        let mut frame = vec![0i16; FRAME_SAMPLES];
        for _ in 0..100 {
            tone.fill(&mut frame);
            let packet = enc.encode(&frame).unwrap();
            heard.extend_from_slice(dec.decode(&packet).unwrap());
        }
        let hz = dominant_hz(&heard[heard.len() - 48_000..]).unwrap();
        assert!((hz - 660.0).abs() <= 2.0, "{hz}");
        // Garbage from the network is an error or silence, never a panic.
        let _ = dec.decode(&[0xff, 0xff, 0xff]);
        let _ = dec.decode(&[]);
    }
}
