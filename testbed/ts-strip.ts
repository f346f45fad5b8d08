/**
 * Removes the audio elementary streams from an MPEG-TS segment: their packets go, and the PMT is rewritten
 * without them (new section length and CRC), so a demuxer sees a programme that carries video only, as a
 * packager that lost its audio input would write it. Everything else is copied byte for byte.
 */

const PACKET = 188;
/** stream_type values of audio (ISO 13818-1 table 2-34 and the common private ones). */
const AUDIO_TYPES = new Set([0x03, 0x04, 0x0f, 0x11, 0x81, 0x87]);

let crcTable: Uint32Array | undefined;

/** CRC-32/MPEG-2 (poly 0x04C11DB7, init all ones, no reflection, no final xor), as PSI sections carry. */
export function crc32Mpeg2(b: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i << 24;
      for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
      crcTable[i] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const x of b) crc = ((crc << 8) ^ crcTable[((crc >>> 24) ^ x) & 0xff]!) >>> 0;
  return crc >>> 0;
}

function payloadStart(p: Buffer, off: number): number {
  const afc = (p[off + 3]! >> 4) & 3;
  return off + 4 + (afc & 2 ? 1 + p[off + 4]! : 0);
}

/** The segment without audio; a buffer that is not TS (no 0x47 sync every 188 bytes) comes back unchanged. */
export function stripTsAudio(buf: Buffer): Buffer {
  if (buf.length % PACKET !== 0) return buf;
  for (let off = 0; off < buf.length; off += PACKET) if (buf[off] !== 0x47) return buf;
  const pmtPids = new Set<number>();
  const audioPids = new Set<number>();
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; off += PACKET) {
    const pid = ((buf[off + 1]! & 0x1f) << 8) | buf[off + 2]!;
    const pusi = (buf[off + 1]! & 0x40) !== 0;
    if (audioPids.has(pid)) continue;
    if (pid === 0 && pusi) {
      const s = payloadStart(buf, off) + 1 + buf[payloadStart(buf, off)]!;
      const len = ((buf[s + 1]! & 0x0f) << 8) | buf[s + 2]!;
      for (let i = s + 8; i + 4 <= s + 3 + len - 4; i += 4) {
        const program = (buf[i]! << 8) | buf[i + 1]!;
        if (program !== 0) pmtPids.add(((buf[i + 2]! & 0x1f) << 8) | buf[i + 3]!);
      }
    } else if (pmtPids.has(pid) && pusi) {
      out.push(rewritePmt(buf.subarray(off, off + PACKET), audioPids));
      continue;
    }
    out.push(buf.subarray(off, off + PACKET));
  }
  return Buffer.concat(out);
}

/** One PMT packet without its audio entries (whose PIDs are added to `audioPids`). */
function rewritePmt(pkt: Buffer, audioPids: Set<number>): Buffer {
  const p0 = payloadStart(pkt, 0);
  const s = p0 + 1 + pkt[p0]!;
  const len = ((pkt[s + 1]! & 0x0f) << 8) | pkt[s + 2]!;
  const end = s + 3 + len - 4; // before the CRC
  if (end > PACKET) return pkt; // a PMT spanning packets: leave it (ffmpeg never writes one)
  const infoLen = ((pkt[s + 10]! & 0x0f) << 8) | pkt[s + 11]!;
  const head = pkt.subarray(s, s + 12 + infoLen);
  const kept: Buffer[] = [];
  for (let i = s + 12 + infoLen; i + 5 <= end; ) {
    const type = pkt[i]!;
    const esPid = ((pkt[i + 1]! & 0x1f) << 8) | pkt[i + 2]!;
    const esLen = ((pkt[i + 3]! & 0x0f) << 8) | pkt[i + 4]!;
    if (AUDIO_TYPES.has(type)) audioPids.add(esPid);
    else kept.push(pkt.subarray(i, i + 5 + esLen));
    i += 5 + esLen;
  }
  const section = Buffer.concat([Buffer.from(head), ...kept, Buffer.alloc(4)]);
  const newLen = section.length - 3;
  section[1] = (section[1]! & 0xf0) | ((newLen >> 8) & 0x0f);
  section[2] = newLen & 0xff;
  section.writeUInt32BE(crc32Mpeg2(section.subarray(0, section.length - 4)), section.length - 4);
  const outPkt = Buffer.alloc(PACKET, 0xff);
  pkt.copy(outPkt, 0, 0, s);
  section.copy(outPkt, s);
  return outPkt;
}
