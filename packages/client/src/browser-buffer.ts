/**
 * A small Buffer for the browser bundle: a Uint8Array subclass with exactly the Buffer
 * methods @culex/packet and this client call (alloc, allocUnsafe, from, isBuffer,
 * byteLength, concat; utf8/latin1 slice and write, copy, 32/16-bit big-endian reads and
 * writes, toString). The bundler injects it where code refers to the global `Buffer`, and
 * maps the `buffer` module's `isUtf8` to the version here. Not used in Node.
 */

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8')
const strictDecoder = new TextDecoder('utf-8', { fatal: true })

/** True when `b` is well-formed UTF-8 (same contract as `node:buffer` isUtf8). */
export function isUtf8 (b: Uint8Array): boolean {
  try {
    strictDecoder.decode(b)
    return true
  } catch {
    return false
  }
}

function utf8ByteLength (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

class BrowserBuffer extends Uint8Array {
  override toString (encoding: string = 'utf8', start = 0, end = this.length): string {
    switch (encoding) {
      case 'latin1':
      case 'binary':
      case 'ascii':
        return this.latin1Slice(start, end)
      case 'hex': {
        let s = ''
        for (let i = start; i < end; i++) s += this[i]!.toString(16).padStart(2, '0')
        return s
      }
      default:
        return this.utf8Slice(start, end)
    }
  }

  utf8Slice (start = 0, end = this.length): string {
    return decoder.decode(this.subarray(start, end))
  }

  latin1Slice (start = 0, end = this.length): string {
    let s = ''
    for (let i = start; i < end; i += 4096) {
      s += String.fromCharCode.apply(null, Array.from(this.subarray(i, Math.min(end, i + 4096))))
    }
    return s
  }

  utf8Write (s: string, offset = 0): number {
    return encoder.encodeInto(s, this.subarray(offset)).written
  }

  latin1Write (s: string, offset = 0): number {
    for (let i = 0; i < s.length; i++) this[offset + i] = s.charCodeAt(i) & 0xff
    return s.length
  }

  write (s: string, offset = 0): number {
    return this.utf8Write(s, offset)
  }

  copy (target: Uint8Array, targetStart = 0, sourceStart = 0, sourceEnd = this.length): number {
    const part = this.subarray(sourceStart, sourceEnd)
    target.set(part, targetStart)
    return part.length
  }

  equals (other: Uint8Array): boolean {
    if (other.length !== this.length) return false
    for (let i = 0; i < this.length; i++) if (this[i] !== other[i]) return false
    return true
  }

  readUInt16BE (o = 0): number {
    return (this[o]! << 8) | this[o + 1]!
  }

  readUInt32BE (o = 0): number {
    return this[o]! * 0x1000000 + ((this[o + 1]! << 16) | (this[o + 2]! << 8) | this[o + 3]!)
  }

  writeUInt16BE (v: number, o = 0): number {
    this[o] = v >>> 8
    this[o + 1] = v & 0xff
    return o + 2
  }

  writeUInt32BE (v: number, o = 0): number {
    this[o] = v >>> 24
    this[o + 1] = (v >>> 16) & 0xff
    this[o + 2] = (v >>> 8) & 0xff
    this[o + 3] = v & 0xff
    return o + 4
  }
}

const statics = {
  alloc (size: number): BrowserBuffer {
    return new BrowserBuffer(size)
  },
  allocUnsafe (size: number): BrowserBuffer {
    return new BrowserBuffer(size)
  },
  allocUnsafeSlow (size: number): BrowserBuffer {
    return new BrowserBuffer(size)
  },
  from (value: string | ArrayBuffer | ArrayLike<number>, offset?: number, length?: number): BrowserBuffer {
    if (typeof value === 'string') {
      const u = encoder.encode(value)
      return new BrowserBuffer(u.buffer, u.byteOffset, u.byteLength)
    }
    if (value instanceof ArrayBuffer) {
      const off = offset ?? 0
      return new BrowserBuffer(value, off, length ?? value.byteLength - off)
    }
    const b = new BrowserBuffer(value.length)
    b.set(value)
    return b
  },
  isBuffer (value: unknown): boolean {
    return value instanceof BrowserBuffer
  },
  byteLength (s: string | Uint8Array): number {
    return typeof s === 'string' ? utf8ByteLength(s) : s.byteLength
  },
  concat (list: readonly Uint8Array[], total?: number): BrowserBuffer {
    const size = total ?? list.reduce((n, b) => n + b.length, 0)
    const out = new BrowserBuffer(size)
    let o = 0
    for (const b of list) {
      out.set(b, o)
      o += b.length
    }
    return out
  }
}

for (const [name, fn] of Object.entries(statics)) {
  Object.defineProperty(BrowserBuffer, name, { value: fn, writable: true, configurable: true })
}

/** The injected `Buffer` (typed as Node's so the shared sources type-check unchanged). */
export const Buffer = BrowserBuffer as unknown as typeof globalThis.Buffer
