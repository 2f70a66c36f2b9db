// A tiny MessagePack codec for the sale page's WebSocket frames (the
// contract: binary MessagePack maps). It covers what the engine sends and
// the page sends: maps, arrays, strings, nil, booleans, integers (64-bit
// ones become Numbers, exact up to 2^53), floats and bin. Extension types are
// refused: the contract has none, and a frame we cannot read is dropped.
'use strict';
(function (root) {
  const utf8Encoder = new TextEncoder();
  const utf8Decoder = new TextDecoder();
  const TWO_32 = 4294967296;

  function encode(value) {
    const out = [];
    const scratch = new DataView(new ArrayBuffer(8));
    // Pushes the first `size` bytes of the scratch view, big-endian as written.
    const pushScratch = (size) => { for (let i = 0; i < size; i++) out.push(scratch.getUint8(i)); };
    const head = (byte, size, length) => {
      out.push(byte);
      if (size === 1) out.push(length);
      else if (size === 2) { scratch.setUint16(0, length); pushScratch(2); }
      else { scratch.setUint32(0, length); pushScratch(4); }
    };
    // Header of a str, bin, array or map: the fix form when one exists and fits.
    const sized = (length, fix, fixMax, byte8, byte16, byte32) => {
      if (fix !== null && length <= fixMax) out.push(fix | length);
      else if (byte8 !== null && length < 0x100) head(byte8, 1, length);
      else if (length < 0x10000) head(byte16, 2, length);
      else head(byte32, 4, length);
    };
    const integer = (n) => {
      if (n >= 0) {
        if (n < 0x80) out.push(n);
        else if (n < 0x100) out.push(0xcc, n);
        else if (n < 0x10000) { out.push(0xcd); scratch.setUint16(0, n); pushScratch(2); }
        else if (n < TWO_32) { out.push(0xce); scratch.setUint32(0, n); pushScratch(4); }
        else { out.push(0xcf); scratch.setBigUint64(0, BigInt(n)); pushScratch(8); }
      } else if (n >= -0x20) out.push(n & 0xff);
      else if (n >= -0x80) out.push(0xd0, n & 0xff);
      else if (n >= -0x8000) { out.push(0xd1); scratch.setInt16(0, n); pushScratch(2); }
      else if (n >= -0x80000000) { out.push(0xd2); scratch.setInt32(0, n); pushScratch(4); }
      else { out.push(0xd3); scratch.setBigInt64(0, BigInt(n)); pushScratch(8); }
    };
    const bytes = (array) => { for (let i = 0; i < array.length; i++) out.push(array[i]); };
    const write = (v) => {
      if (v === null || v === undefined) out.push(0xc0);
      else if (v === false) out.push(0xc2);
      else if (v === true) out.push(0xc3);
      else if (typeof v === 'number') {
        if (Number.isSafeInteger(v)) integer(v);
        else { out.push(0xcb); scratch.setFloat64(0, v); pushScratch(8); }
      } else if (typeof v === 'string') {
        const data = utf8Encoder.encode(v);
        sized(data.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
        bytes(data);
      } else if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
        const data = v instanceof Uint8Array ? v : new Uint8Array(v);
        sized(data.length, null, 0, 0xc4, 0xc5, 0xc6);
        bytes(data);
      } else if (Array.isArray(v)) {
        sized(v.length, 0x90, 15, null, 0xdc, 0xdd);
        v.forEach(write);
      } else if (typeof v === 'object') {
        // Undefined fields are left out, as JSON.stringify does.
        const keys = Object.keys(v).filter((k) => v[k] !== undefined);
        sized(keys.length, 0x80, 15, null, 0xde, 0xdf);
        for (const k of keys) { write(k); write(v[k]); }
      } else throw new TypeError('msgpack: cannot encode ' + typeof v);
    };
    write(value);
    return new Uint8Array(out);
  }

  function decode(input) {
    const data = input instanceof Uint8Array ? input : new Uint8Array(input);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let at = 0;
    // Every read checks the bounds, so a truncated frame throws instead of
    // yielding undefined fields.
    const take = (size) => {
      if (at + size > data.length) throw new RangeError('msgpack: truncated');
      const start = at;
      at += size;
      return start;
    };
    const str = (length) => {
      const start = take(length);
      return utf8Decoder.decode(data.subarray(start, start + length));
    };
    const bin = (length) => { const start = take(length); return data.slice(start, start + length); };
    // Each element takes at least one byte: a count larger than what is left is a lie.
    const count = (length) => {
      if (length > data.length - at) throw new RangeError('msgpack: truncated');
      return length;
    };
    const array = (length) => {
      count(length);
      const list = new Array(length);
      for (let i = 0; i < length; i++) list[i] = read();
      return list;
    };
    const map = (length) => {
      count(length);
      const object = {};
      for (let i = 0; i < length; i++) {
        const key = String(read());
        // defineProperty, so a key "__proto__" is a field and never a prototype.
        Object.defineProperty(object, key, { value: read(), enumerable: true, writable: true, configurable: true });
      }
      return object;
    };
    const read = () => {
      const byte = data[take(1)];
      if (byte < 0x80) return byte;
      if (byte < 0x90) return map(byte & 0x0f);
      if (byte < 0xa0) return array(byte & 0x0f);
      if (byte < 0xc0) return str(byte & 0x1f);
      if (byte >= 0xe0) return byte - 0x100;
      switch (byte) {
        case 0xc0: return null;
        case 0xc2: return false;
        case 0xc3: return true;
        case 0xc4: return bin(view.getUint8(take(1)));
        case 0xc5: return bin(view.getUint16(take(2)));
        case 0xc6: return bin(view.getUint32(take(4)));
        case 0xca: return view.getFloat32(take(4));
        case 0xcb: return view.getFloat64(take(8));
        case 0xcc: return view.getUint8(take(1));
        case 0xcd: return view.getUint16(take(2));
        case 0xce: return view.getUint32(take(4));
        case 0xcf: { const start = take(8); return view.getUint32(start) * TWO_32 + view.getUint32(start + 4); }
        case 0xd0: return view.getInt8(take(1));
        case 0xd1: return view.getInt16(take(2));
        case 0xd2: return view.getInt32(take(4));
        case 0xd3: { const start = take(8); return view.getInt32(start) * TWO_32 + view.getUint32(start + 4); }
        case 0xd9: return str(view.getUint8(take(1)));
        case 0xda: return str(view.getUint16(take(2)));
        case 0xdb: return str(view.getUint32(take(4)));
        case 0xdc: return array(view.getUint16(take(2)));
        case 0xdd: return array(view.getUint32(take(4)));
        case 0xde: return map(view.getUint16(take(2)));
        case 0xdf: return map(view.getUint32(take(4)));
        default: throw new TypeError('msgpack: unsupported type 0x' + byte.toString(16));
      }
    };
    const value = read();
    if (at !== data.length) throw new RangeError('msgpack: trailing bytes');
    return value;
  }

  root.MsgPack = { encode, decode };
})(typeof window !== 'undefined' ? window : globalThis);
