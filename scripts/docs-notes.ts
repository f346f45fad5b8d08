/**
 * Prose the generated reference pages add to what the code says. The key lists themselves come from the
 * code (shared/config.ts, shared/metrics.ts), so a key or code added there shows up on the page even before
 * it gets a note here; the page then falls back to the comment in the source.
 */

/** Config key (dotted) -> what it means, when the comment in shared/config.ts is too terse for an operator. */
export const CONFIG_NOTES: Record<string, string> = {
  'nats.url': 'NATS server(s), comma separated; clients fail over between them.',
  'nats.user': 'User for user/password auth.',
  'nats.pass': 'Password for user/password auth (redacted from logs).',
  'nats.token': 'Token auth (redacted from logs).',
  'nats.credsFile': 'JWT/nkey creds file (operator mode).',
  'nats.nkeyFile': 'nkey seed file (server users with `nkey: U...`).',
  'nats.tlsCaFile':
    'CA that signed the server certificate. Any of the three TLS keys (or a `tls://` URL) makes TLS required.',
  'nats.tlsCertFile': 'Client certificate, when the server verifies clients.',
  'nats.tlsKeyFile': 'Client key, when the server verifies clients.',
  'nats.prefix': 'Subject prefix; the streams are `<PREFIX>_JOBS` and `<PREFIX>_RESULTS`.',
  'nats.resultsMaxAgeH': 'How long reports are kept in JetStream (hours).',
  'nats.replicas': 'Replicas of the streams and KV buckets the controller creates (`3` on a 3-node cluster).',
  'nats.jobAckWaitS':
    "Ack wait of the job consumers: a dead agent's job is redelivered after this; agents call `working()` every third of it.",
  'agent.id': 'Agent id (a NATS subject token). Default: hostname + random suffix.',
  'agent.region': 'Region whose work queue the agent serves.',
  'agent.labels': 'Free labels carried in heartbeats.',
  'agent.capacity.browser': 'Concurrent browser (Chromium) sessions.',
  'agent.capacity.stream': 'Concurrent stream probes.',
  'agent.bandwidthTolerance':
    'Stream probe `bandwidth-exceeded`: how far (fraction; 0.1 = 10 %) a measured segment bitrate may exceed the declared HLS BANDWIDTH / AVERAGE-BANDWIDTH or DASH @bandwidth (with minBufferTime) before it is a finding.',
  'agent.heartbeatS': 'Heartbeat period (seconds); an agent is offline after 3 missed beats.',
  'agent.spoolDir':
    "On-disk spool for reports while NATS is unreachable (`<dir>/<agentId>/`; a dead agent's spool is adopted at start).",
  'agent.spoolMaxMb':
    'Spool bound; when full a report is dropped (counted in the heartbeat, logged) and its job handed back; `0` disables the spool.',
  'agent.drainGraceS':
    'On SIGTERM or `POST /v1/agents/:id/stop`: running jobs may finish this long, then are handed back (nak).',
  'agent.httpHost': 'Bind address of the agent HTTP port (`agent.httpPort`).',
  'agent.clockUncertaintyMaxMs':
    'Clock honesty: a report whose clock offset is known to worse than ± this (half the time-service round trip) is flagged `clock-suspect`; its g2g / latency / availability figures stay out of the series and latency alerts. See the report reference.',
  'controller.host': 'API bind address.',
  'controller.port': 'API port.',
  'controller.tokens':
    'Bearer tokens `{name, role: viewer|operator|admin, token}` (token >= 16 characters); env form `name:role:token,...`. None = auth off, and then the API refuses any non-loopback bind address.',
  'controller.writeRateLimitPerMin': 'POST/PUT/DELETE per minute per token (or client address); 429 beyond.',
  'controller.sseMaxPerToken':
    'Server-sent event streams (`/v1/events`) open at once per token; more get 429.',
  'controller.sseMax': 'Server-sent event streams open at once overall; more get 429.',
  'controller.silencesMax': 'Silences stored at once; beyond it a new silence gets 400.',
  'controller.silenceMaxHours': 'The longest silence (hours, default 90 days); a longer one gets 400.',
  'controller.bodyLimitKb': 'Largest request body (413 beyond).',
  'controller.rebuildWindowS':
    'History replayed from the results stream at start-up to rebuild the summary windows (0 = none).',
  'controller.rulesFile':
    'Alerting rules file (YAML). Unset = the shipped `deploy/rules.yaml`; `none` = rules from the API only.',
  'browser.chromium':
    'Chromium binary (`/usr/lib/chromium/chromium` on Debian). Default: standard locations.',
  'browser.extraArgs': 'Extra Chromium flags (e.g. `--disable-dev-shm-usage` in containers).',
  'browser.audio':
    'Analyse the played audio with Web Audio (`silent_ms`, `audio_missing_ms`, the A/V sync tone); `false` keeps players muted and reports no audio figures.',
  'browser.silenceDbfs':
    'RMS level (dBFS) below which a 100 ms window of played audio is silent (`silent_ms`). -60 sits far below programme audio and above codec noise on digital silence.',
  'log.level': 'pino log level.',
};

export interface FindingNote {
  severity: string;
  rule: string;
}

/** Finding code -> severity and the rule that raises it (the stream probe's checks, probes/stream/checks/). */
export const FINDING_NOTES: Record<string, FindingNote> = {
  'playlist-stale': {
    severity: 'critical',
    rule: 'A live media playlist lists no new segment for > 1.5 x TARGETDURATION (RFC 8216 6.2.1), measured from the response that first listed the newest segment to the start of a later request. One finding per episode.',
  },
  'mseq-regression': {
    severity: 'critical',
    rule: 'EXT-X-MEDIA-SEQUENCE lower than on the previous reload.',
  },
  'playlist-content-changed': {
    severity: 'warning',
    rule: 'Same media sequence, but a segment changed URI, or segments vanished from the end.',
  },
  'segment-continuity': {
    severity: 'warning',
    rule: "The window slid but a kept segment changed URI; the window jumped past segments never listed; the live edge went back; or the packager's file numbering skips among new segments (a dropped segment).",
  },
  'discontinuity-sequence': {
    severity: 'warning',
    rule: 'EXT-X-DISCONTINUITY-SEQUENCE changed by other than the number of EXT-X-DISCONTINUITY tags that slid out, or renditions of one group disagree on a segment’s discontinuity sequence number (RFC 8216 6.2.4).',
  },
  'extinf-over-target': {
    severity: 'warning',
    rule: "A new segment's EXTINF, rounded to the nearest integer, is above TARGETDURATION.",
  },
  'target-duration-changed': {
    severity: 'warning',
    rule: 'TARGETDURATION differs from the previous reload (or vanished).',
  },
  'window-too-short': {
    severity: 'warning',
    rule: 'Live (not EVENT) playlist whose segments are already being removed, with an EXTINF sum < 3 x TARGETDURATION.',
  },
  'pdt-drift': {
    severity: 'warning',
    rule: "An explicit PROGRAM-DATE-TIME differs from the previous segment's PDT + EXTINF by > 500 ms outside a discontinuity, or a segment's PDT moved between reloads.",
  },
  'variant-mseq-drift': {
    severity: 'warning',
    rule: "A rendition's newest media sequence, projected to a common instant, is > 2 off the upper median of its group.",
  },
  'http-status': {
    severity: 'critical / warning',
    rule: 'Non-2xx or no response (refused, reset, timeout, too large): critical for the master, a media playlist or the MPD, warning for a segment. A timeout seen by a probe that itself ran late is excused as for `manifest-unavailable`.',
  },
  'last-modified-stale': {
    severity: 'warning',
    rule: "Playlist (or timeline MPD) Last-Modified older than 3 x TARGETDURATION (MPD: max(minimumUpdatePeriod, segment)) against the response's Date.",
  },
  'endlist-in-live': {
    severity: 'critical',
    rule: 'EXT-X-ENDLIST appears in a playlist that was live, or at first load while sibling renditions are live (critical); a stream already ended at first load (warning).',
  },
  'mpd-stale': {
    severity: 'critical',
    rule: 'A dynamic MPD whose live edge (SegmentTimeline, or publishTime for `$Number$` templates) has not advanced for > 1.5 x max(minimumUpdatePeriod, max segment duration).',
  },
  'publish-time-regression': {
    severity: 'warning',
    rule: 'MPD@publishTime lower than on the previous reload.',
  },
  'dash-availability': {
    severity: 'warning',
    rule: "A representation's live-edge segment is listed > 1 s before its availability time (on the UTCTiming clock), or > 4 segments + MUP behind it while the timeline advances, or is not fetchable 1 s after it became available.",
  },
  'captions-stale': {
    severity: 'warning',
    rule: 'A subtitle rendition (HLS EXT-X-MEDIA TYPE=SUBTITLES) lists no new segment for > 1.5 x TARGETDURATION: the `playlist-stale` rule on a caption track, a warning because picture and sound go on. The rendition is named.',
  },
  'bandwidth-exceeded': {
    severity: 'warning',
    rule: "A measured segment (bytes x 8 / duration) is above the variant's BANDWIDTH (the peak segment bit rate, RFC 8216), the mean of the last 15 above AVERAGE-BANDWIDTH, or (DASH) above @bandwidth x (duration + minBufferTime), each + `agent.bandwidthTolerance` (10 %). The rendition is named.",
  },
  'segment-slow': {
    severity: 'warning / critical',
    rule: 'A segment GET cannot keep up with real time, judged while it downloads: its body arrives at a rate that (Content-Length known) would end > 1.25 x its duration, measured over >= 200 ms and 10 % of the duration of transfer; or it is still running at its duration; or it took longer in the end. Warning; critical once 2 segments in a row of the rendition are slow. A watch reports the first one at once, and again when it turns critical.',
  },
  'manifest-unavailable': {
    severity: 'critical',
    rule: 'A reload of the master playlist (re-fetched every TARGETDURATION / 2 of its renditions) or of the MPD (every minimumUpdatePeriod) failed: non-2xx, no response (refused, reset, timeout) or a body that does not parse. Once per failed reload, with the failures in a row and when it last loaded; a watch reports it at once. A timeout seen by a probe that itself ran late (`selfCheck.late`) is excused: the report is `inconclusive`, never paged for ([report](report.md#self-watch-our-trouble-is-never-the-streams-selfcheck-flag-inconclusive)).',
  },
  'resolution-mismatch': {
    severity: 'warning',
    rule: "Browser probe: the decoded picture (`videoWidth` x `videoHeight`) differs from the playing rendition's declared `RESOLUTION` / `@width` x `@height` by more than 5 % (and 8 px) for 2 s or more; the variant names the rendition (its media playlist URL, or the MPD URL `#` Representation id).",
  },
  'audio-missing': {
    severity: 'critical',
    rule: "Browser probe: the master or MPD declares audio, yet for 2 s or more of a report the player's audio buffer did not hold the playhead while the video buffer did (the audio track is gone from the segments). A stream that declares no audio never has it.",
  },
};
