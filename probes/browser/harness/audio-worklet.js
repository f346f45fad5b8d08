// liveprobe audio analysis, on the audio rendering thread: every sample the media element plays passes here.
// Posts the RMS level of each 100 ms window and the onsets of the A/V sync tone (shared/sync-marker.ts: a
// SYNC_TONE_HZ burst at -6 dBFS over a -30 dBFS bed), both on the AudioContext clock (seconds).

/* global sampleRate, currentTime, registerProcessor, AudioWorkletProcessor */

class LiveprobeAudio extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions ?? {};
    this.toneHz = o.toneHz ?? 1000;
    /** A burst sample is above this amplitude (half the burst's); the bed never reaches it. */
    this.onsetAmp = o.onsetAmp ?? 0.2;
    /** A new onset needs this long without the tone before it (s). */
    this.quietS = o.quietS ?? 0.5;
    this.window = Math.round(sampleRate / 10);
    this.sum = 0;
    this.n = 0;
    this.peak = 0;
    this.channels = 0;
    this.toneOn = false;
    this.lastToneAt = -1e9;
  }

  /** Share of the block's energy at toneHz (Goertzel), 0..1. */
  toneShare(x) {
    const w = (2 * Math.PI * this.toneHz) / sampleRate;
    const c = 2 * Math.cos(w);
    let s1 = 0;
    let s2 = 0;
    let energy = 0;
    for (let i = 0; i < x.length; i++) {
      const s0 = x[i] + c * s1 - s2;
      s2 = s1;
      s1 = s0;
      energy += x[i] * x[i];
    }
    const power = s1 * s1 + s2 * s2 - c * s1 * s2;
    return energy > 0 ? Math.min(1, (2 * power) / (x.length * energy)) : 0;
  }

  process(inputs) {
    const input = inputs[0] ?? [];
    const len = input[0]?.length ?? 128;
    // Mono mix of whatever the element plays (no channel at all: nothing is connected, i.e. no audio).
    let x;
    if (input.length === 0) x = new Float32Array(len);
    else if (input.length === 1) x = input[0];
    else {
      x = new Float32Array(len);
      for (const ch of input) for (let i = 0; i < len; i++) x[i] += ch[i] / input.length;
    }
    this.channels = Math.max(this.channels, input.length);
    for (let i = 0; i < len; i++) {
      const v = x[i];
      this.sum += v * v;
      const a = v < 0 ? -v : v;
      if (a > this.peak) this.peak = a;
    }
    this.n += len;
    // Tone onset: the first loud sample of a block that is mostly toneHz, after a quiet stretch.
    let loud = -1;
    for (let i = 0; i < len; i++) {
      if (x[i] > this.onsetAmp || x[i] < -this.onsetAmp) {
        loud = i;
        break;
      }
    }
    const tone = loud >= 0 && this.toneShare(x) > 0.5;
    if (tone) {
      const at = currentTime + loud / sampleRate;
      if (!this.toneOn && at - this.lastToneAt > this.quietS)
        this.port.postMessage({ type: 'tone', time: at });
      this.lastToneAt = at;
    }
    this.toneOn = tone;
    if (this.n >= this.window) {
      const rms = Math.sqrt(this.sum / this.n);
      this.port.postMessage({
        type: 'level',
        time: currentTime + len / sampleRate,
        rms,
        peak: this.peak,
        channels: this.channels,
      });
      this.sum = 0;
      this.n = 0;
      this.peak = 0;
      this.channels = 0;
    }
    return true;
  }
}

registerProcessor('liveprobe-audio', LiveprobeAudio);
