/**
 * A minimal ZIP writer (stored entries, no compression) that streams: each entry is written as soon as it is
 * added, then the central directory at the end. Enough for a data export (JSON and the agent's text files)
 * without a dependency; every unzip tool reads it. Sizes stay under 4 GiB (no ZIP64).
 */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** DOS date and time of `d` (what ZIP headers carry). */
function dosTime(d: Date) {
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2);
  const date = ((Math.max(1980, d.getUTCFullYear()) - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  return { time, date };
}

export interface ZipWriter {
  readable: ReadableStream<Uint8Array>;
  add(name: string, content: string | Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Starts a zip stream; add entries one by one (each goes out at once), then close. */
export function zipStream(now = new Date()): ZipWriter {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const out = writable.getWriter();
  const central: Uint8Array[] = [];
  const { time, date } = dosTime(now);
  let offset = 0;
  const enc = new TextEncoder();
  const write = async (b: Uint8Array) => {
    offset += b.length;
    await out.write(b);
  };
  return {
    readable,
    async add(name, content) {
      const data = typeof content === "string" ? enc.encode(content) : content;
      const fileName = enc.encode(name.replace(/^\/+/, ""));
      const crc = crc32(data);
      const local = new Uint8Array(30 + fileName.length);
      const l = new DataView(local.buffer);
      l.setUint32(0, 0x04034b50, true);
      l.setUint16(4, 20, true); // version needed
      l.setUint16(6, 0x0800, true); // UTF-8 names
      l.setUint16(8, 0, true); // stored
      l.setUint16(10, time, true);
      l.setUint16(12, date, true);
      l.setUint32(14, crc, true);
      l.setUint32(18, data.length, true);
      l.setUint32(22, data.length, true);
      l.setUint16(26, fileName.length, true);
      local.set(fileName, 30);
      const at = offset;
      await write(local);
      await write(data);
      const entry = new Uint8Array(46 + fileName.length);
      const c = new DataView(entry.buffer);
      c.setUint32(0, 0x02014b50, true);
      c.setUint16(4, 20, true);
      c.setUint16(6, 20, true);
      c.setUint16(8, 0x0800, true);
      c.setUint16(10, 0, true);
      c.setUint16(12, time, true);
      c.setUint16(14, date, true);
      c.setUint32(16, crc, true);
      c.setUint32(20, data.length, true);
      c.setUint32(24, data.length, true);
      c.setUint16(28, fileName.length, true);
      c.setUint32(42, at, true);
      entry.set(fileName, 46);
      central.push(entry);
    },
    async close() {
      const start = offset;
      for (const e of central) await write(e);
      const end = new Uint8Array(22);
      const v = new DataView(end.buffer);
      v.setUint32(0, 0x06054b50, true);
      v.setUint16(8, central.length, true);
      v.setUint16(10, central.length, true);
      v.setUint32(12, offset - start, true);
      v.setUint32(16, start, true);
      await out.write(end);
      await out.close();
    },
  };
}
