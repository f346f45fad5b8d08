// What a viewer notices beyond the picture: the audio (level, silence, missing), A/V sync, captions and the
// decoded size against the declared one. Everything is emitted as timeline events (../events.ts); Node does
// the arithmetic (silent_ms, av_offset_ms, cues per minute, resolution-mismatch).
//
// Audio: the media element is routed into Web Audio (MediaElementAudioSourceNode -> an AudioWorklet that
// measures -> a zero gain -> destination): nothing is heard, and the graph keeps pulling samples.

/**
 * @param {{ video: HTMLVideoElement, emit: Function, guard: Function, rel: (perfMs: number) => number }} env
 */
export function createViewer({ video, emit, guard, rel }) {
  let ctx = null;
  /** How the audio graph came up, announced once the timeline has its origin. */
  let audioStatus = null;
  let stopped = false;
  /** SourceBuffers the player created, with their MIME type (recorded by the MediaSource hook). */
  const buffers = [];
  let lastBufferSample = -1;
  let declaredSent = false;
  let sync = null;
  /** Frames left before the next marker read while no marker has been seen. */
  let markerSkip = 0;
  let markerSeenAt = -1;
  let lastMarked = false;
  /** Media time (s) of the last marked frame presented, while locked on the marker's period; else -1. */
  let markMedia = -1;
  let lastSize = '';
  const cuesSeen = new Set();
  const wiredTracks = new WeakSet();

  // Every SourceBuffer either player makes, so audio presence and the audio/video timelines can be read
  // without player internals. Installed before any player exists.
  const origAdd = MediaSource.prototype.addSourceBuffer;
  MediaSource.prototype.addSourceBuffer = function (mime) {
    const sb = origAdd.call(this, mime);
    buffers.push({ sb, mime: String(mime), source: this });
    return sb;
  };

  function kindOf(mime) {
    const m = mime.toLowerCase();
    const audioCodec = /mp4a|ac-3|ec-3|opus|flac|mp3/.test(m);
    const videoCodec = /avc|hvc|hev|vp0?9|vp8|av01/.test(m);
    if (m.startsWith('audio/') || (audioCodec && !videoCodec)) return 'audio';
    if (audioCodec && videoCodec) return 'audiovideo';
    return 'video';
  }

  /** The buffered range holding t in a live SourceBuffer of this kind: [start, end] seconds, or null. */
  function rangeAt(kind, t) {
    for (let i = buffers.length - 1; i >= 0; i--) {
      const b = buffers[i];
      if (kindOf(b.mime) !== kind || b.source.readyState === 'closed') continue;
      let r;
      try {
        r = b.sb.buffered;
      } catch {
        continue; // removed from its MediaSource
      }
      for (let k = 0; k < r.length; k++)
        if (r.start(k) <= t + 0.05 && t <= r.end(k)) return [r.start(k), r.end(k)];
      return null;
    }
    return undefined;
  }

  /** Whether the playhead has audio to play: true / false, or null when the player made no audio buffer. */
  function audioCarried() {
    const t = video.currentTime;
    const a = rangeAt('audio', t);
    if (a !== undefined) return a !== null;
    const av = rangeAt('audiovideo', t);
    return av === undefined ? null : av !== null;
  }

  // --- audio ----------------------------------------------------------------------------------------------

  /**
   * Context seconds -> timeline ms at which a viewer of the element hears that sample. The output timestamp
   * says when a sample leaves the graph; routed through Web Audio, the element's sound gets there the graph's
   * outputLatency later than its own sink would play it (the media pipeline keeps video in step with its own
   * sink, not with the graph), so that latency is taken off. Measured on a healthy stream: uncorrected, the
   * offset followed the latency (interactive, 32 ms: +25 ms; playback, 72 ms: +70 ms); corrected, both read
   * about -5 ms.
   */
  function ctxToT(time) {
    const ts = ctx.getOutputTimestamp();
    if (!ts || !Number.isFinite(ts.performanceTime) || ts.performanceTime <= 0) return undefined;
    const latency = Number.isFinite(ctx.outputLatency) ? ctx.outputLatency : 0;
    return rel(ts.performanceTime + (time - ts.contextTime - latency) * 1000);
  }

  async function startAudio(cfg) {
    try {
      // 16 kHz and the 'playback' latency (larger render quanta per wake-up): measured side by side, the
      // graph cost 2.7 points of a core less per session than at the device rate with 'interactive'. The
      // analysis needs neither: the sync tone is 1 kHz and levels are RMS. The larger output latency is
      // taken off in ctxToT.
      ctx = new AudioContext({ sampleRate: 16000, latencyHint: 'playback' });
      const src = ctx.createMediaElementSource(video);
      await ctx.audioWorklet.addModule(cfg.audio.workletUrl);
      const node = new AudioWorkletNode(ctx, 'liveprobe-audio', {
        numberOfOutputs: 1,
        outputChannelCount: [1],
        processorOptions: { toneHz: cfg.audio.toneHz },
      });
      const mute = ctx.createGain();
      mute.gain.value = 0;
      src.connect(node);
      node.connect(mute);
      mute.connect(ctx.destination);
      node.port.onmessage = guard((e) => onAudio(e.data));
      if (ctx.state !== 'running') await ctx.resume();
      audioStatus = {
        sampleRate: ctx.sampleRate,
        state: ctx.state,
        outputLatencyMs: Math.round((ctx.outputLatency ?? 0) * 1000),
      };
    } catch (err) {
      audioStatus = { error: String(err?.message ?? err).slice(0, 300) };
    }
  }

  function onAudio(m) {
    if (stopped) return;
    const t = ctxToT(m.time);
    if (t === undefined || t < 0) return;
    if (m.type === 'tone') {
      emit('av-tone', {}, t);
      return;
    }
    const db = m.rms > 0 ? 20 * Math.log10(m.rms) : -200;
    const carried = audioCarried();
    const v = rangeAt('video', video.currentTime) ?? rangeAt('audiovideo', video.currentTime);
    emit(
      'audio-level',
      {
        db: Math.max(-200, Math.round(db * 10) / 10),
        // Paused or stalled, nothing plays: such windows say nothing about the stream's audio.
        playing: !video.paused && video.readyState >= 3,
        carried,
        video: v === undefined ? null : v !== null,
      },
      t,
    );
  }

  // --- A/V sync marker ------------------------------------------------------------------------------------

  let markCanvas = null;
  /** Frames read either side of the expected marked frame (s of media time; 2 frames at 30 fps, 4 at 60). */
  const MARK_WINDOW_S = 0.07;
  const MW = 4;
  const MH = 24;

  /** Reads the marker pair of the presented frame: 1 marked, -1 unmarked (marker present), 0 no marker. */
  function readMarker() {
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    if (!vw || !vh || !sync) return 0;
    const m = sync.marker;
    const y0 = m.upper.y0;
    const h = m.lower.y1 - y0;
    const w = m.x1 - m.x0;
    markCanvas.drawImage(video, m.x0 * vw, y0 * vh, w * vw, h * vh, 0, 0, MW, MH);
    const px = markCanvas.getImageData(0, 0, MW, MH).data;
    const mean = (fy0, fy1) => {
      // The middle of the block (edges blur at low bitrates), in canvas rows.
      const a = Math.floor(((fy0 - y0) / h) * MH) + 1;
      const b = Math.ceil(((fy1 - y0) / h) * MH) - 1;
      let s = 0;
      let n = 0;
      for (let y = a; y < b; y++)
        for (let x = 1; x < MW - 1; x++) {
          const i = (y * MW + x) * 4;
          s += (px[i] + px[i + 1] + px[i + 2]) / 3;
          n++;
        }
      return n ? s / n : 0;
    };
    const d = mean(m.upper.y0, m.upper.y1) - mean(m.lower.y0, m.lower.y1);
    if (d >= sync.minDiff) return 1;
    if (-d >= sync.minDiff) return -1;
    return 0;
  }

  // --- captions -------------------------------------------------------------------------------------------

  function wireTrack(track) {
    if (wiredTracks.has(track) || (track.kind !== 'subtitles' && track.kind !== 'captions')) return;
    wiredTracks.add(track);
    track.addEventListener(
      'cuechange',
      guard(() => {
        if (track.mode === 'disabled') return;
        for (const cue of Array.from(track.activeCues ?? [])) {
          const key = `${track.label}|${cue.startTime.toFixed(3)}|${cue.text ?? ''}`;
          if (cuesSeen.has(key)) continue;
          cuesSeen.add(key);
          if (cuesSeen.size > 5000) cuesSeen.clear();
          emit('cue', { start: cue.startTime });
        }
      }),
    );
  }

  return {
    /** Before the player attaches: audio graph, marker canvas, text track wiring. */
    async start(cfg) {
      sync = cfg.sync ?? null;
      if (sync) {
        const c = document.createElement('canvas');
        c.width = MW;
        c.height = MH;
        markCanvas = c.getContext('2d', { willReadFrequently: true });
      }
      video.textTracks.addEventListener(
        'addtrack',
        guard((e) => wireTrack(e.track)),
      );
      if (cfg.audio) {
        // Autoplay with sound is allowed by the launch flag (--autoplay-policy=no-user-gesture-required);
        // the element's own output goes only into the graph, which ends in a zero gain.
        video.muted = false;
        await startAudio(cfg);
      }
    },

    /** The timeline has its origin (t = 0): say how the audio analysis came up. */
    announce() {
      if (audioStatus) emit('audio-ready', audioStatus);
    },

    /** The player knows what the stream declares: audio (codecs / audio renditions) and caption tracks. */
    declared(info) {
      if (declaredSent) return;
      declaredSent = true;
      emit('declared', info);
    },

    /** A caption track the player selected (shown hidden: cues load and fire, nothing is drawn). */
    captionSelected(label) {
      emit('captions', { label: String(label ?? '').slice(0, 100) });
      for (const t of Array.from(video.textTracks)) wireTrack(t);
    },

    /** Every presented frame. */
    onFrame(meta, level, declaredSize) {
      const t = rel(meta.expectedDisplayTime);
      const size = `${video.videoWidth}x${video.videoHeight}@${level}`;
      if (size !== lastSize && video.videoWidth > 0) {
        lastSize = size;
        emit('resolution', {
          level,
          width: video.videoWidth,
          height: video.videoHeight,
          ...(declaredSize ?? {}),
        });
      }
      if (!sync) return;
      const mt = meta.mediaTime;
      if (markerSeenAt < 0 || t - markerSeenAt > 10_000) {
        // No marker lately: look on one frame in ten only.
        markMedia = -1;
        if (markerSkip-- > 0) return;
        markerSkip = 9;
      } else if (markMedia >= 0) {
        // Locked: the next marked frame is one period of media time after the last. Reading a frame converts
        // the picture, and reading every frame cost ~4.5 points of a core per 360p session (renderer 13.7 %
        // against 9.4 % without the marker; ~1.4 points left with the lock), so only frames around it are read. A seek, a discontinuity or a marked frame never presented (dropped) unlocks:
        // every frame is read until the marker is found again.
        const d = mt - markMedia;
        if (!(d >= 0 && d <= sync.periodS + 2 * MARK_WINDOW_S)) markMedia = -1;
        else if (Math.abs(d - sync.periodS) > MARK_WINDOW_S) {
          lastMarked = false;
          return;
        }
      }
      const r = readMarker();
      if (r !== 0) markerSeenAt = t;
      if (r === 1 && !lastMarked) {
        emit('av-mark', {}, t);
        if (Number.isFinite(mt)) markMedia = mt;
      }
      lastMarked = r === 1;
    },

    /** Periodic (the harness tick): container-level A/V offset from the buffered timelines, once a second. */
    tick() {
      const now = rel(performance.now());
      if (now - lastBufferSample < 1000 || video.paused) return;
      lastBufferSample = now;
      const t = video.currentTime;
      const a = rangeAt('audio', t);
      const v = rangeAt('video', t);
      if (!a || !v) return;
      // Both ranges start where the player began buffering (or trimmed its back buffer): a container-level
      // shift between the tracks shows as the difference of the starts.
      emit('av-buffer', { ms: Math.round((a[0] - v[0]) * 1000) });
    },

    stop() {
      stopped = true;
      MediaSource.prototype.addSourceBuffer = origAdd;
      ctx?.close().catch(() => {});
    },
  };
}
