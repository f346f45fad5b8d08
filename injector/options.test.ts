import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { outputFormat, paintArgs, passthroughArgs } from './args.js';
import { InjectOptions } from './options.js';

const base = { in: 'srt://0.0.0.0:9000?mode=listener', out: 'udp://10.0.0.5:5000', id: 3 };

describe('inject options', () => {
  it('defaults: bottom-left at half width, ultrafast, no passthrough', () => {
    const o = InjectOptions.parse(base);
    expect(o).toMatchObject({
      corner: 'bottom-left',
      size: 0.5,
      preset: 'ultrafast',
      passthroughOnError: false,
    });
  });

  it('refuses what would misbehave on a live feed, naming the option', () => {
    const bad = (v: Record<string, unknown>) =>
      InjectOptions.safeParse({ ...base, ...v }).error?.issues[0]?.path[0];
    expect(bad({ id: 0 })).toBe('id');
    expect(bad({ id: 70_000 })).toBe('id');
    expect(bad({ size: 0.3 })).toBe('size');
    expect(bad({ corner: 'middle' })).toBe('corner');
    expect(bad({ in: 'http://x/y.m3u8' })).toBe('in');
    expect(bad({ preset: 'placebo' })).toBe('preset');
  });
});

describe('ffmpeg arguments', () => {
  const args = {
    input: 'udp://127.0.0.1:5000',
    output: 'srt://p:9000?mode=caller',
    loop: false,
    placement: { corner: 'top-right', size: 0.25 } as const,
    id: 3,
    stampCorrectionMs: -12,
    encode: { preset: 'ultrafast', bitrate: 8_000_000, gop: 50 },
  };

  it('paint keeps timestamps and audio, re-encodes only the video, writes PES lengths', () => {
    const a = paintArgs(args);
    expect(a).toContain('-copyts');
    expect(a.join(' ')).toContain('-c:a copy');
    expect(a.join(' ')).toContain('-enc_time_base:v -1');
    expect(a.join(' ')).toContain('-omit_video_pes_length 0');
    expect(a.join(' ')).toContain('floor(time(0)*1000)-12');
    expect(a).not.toContain('-stream_loop');
    expect(a[a.length - 1]).toBe(args.output);
  });

  it('passthrough copies every stream; a file input is looped at its own rate', () => {
    const a = passthroughArgs({ ...args, input: '/tmp/clip.ts' });
    expect(a.join(' ')).toContain('-c copy');
    expect(a.join(' ')).toContain('-re -stream_loop -1');
    expect(a.join(' ')).not.toContain('geq');
  });

  it('output muxer from the URL', () => {
    expect(outputFormat('rtmp://a/live/k')).toBe('flv');
    expect(outputFormat('rtp://1.2.3.4:5000')).toBe('rtp_mpegts');
    expect(outputFormat('srt://a:1')).toBe('mpegts');
    expect(outputFormat('/tmp/out.ts')).toBe('mpegts');
  });
});

describe('liveprobe inject (the CLI)', () => {
  it('a bad flag exits 64 with the option named, before anything starts', () => {
    const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
    const r = spawnSync(
      'node',
      [main, 'inject', '--in', 'udp://127.0.0.1:1', '--out', 'udp://127.0.0.1:2', '--id', '0', '--no-nats'],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('--id');
  });
});
