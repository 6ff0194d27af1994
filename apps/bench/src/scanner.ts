/**
 * FrameScanner: splits a TCP byte stream into MQTT frames by reading fixed headers only.
 *
 * The receive path of the generator must cost less than the broker's, so nothing is
 * decoded: each frame is reported as (type, flags, buffer, body start, body end) and the
 * caller reads the two or three fields it needs in place. Bytes of an incomplete frame are
 * kept until the next chunk (the only copy on this path). A remaining length longer than
 * four bytes or above `maxFrame` is reported once through `onError`; the scanner then stays
 * failed and ignores further input.
 */

/** Called for each complete frame; `buf[start..end)` is the variable header + payload. */
export type FrameHandler = (type: number, flags: number, buf: Buffer, start: number, end: number) => void

export class FrameScanner {
  #pending: Buffer | null = null
  #failed = false
  readonly #onFrame: FrameHandler
  readonly #onError: (message: string) => void
  readonly #maxFrame: number

  /**
   * @param onFrame called synchronously for every complete frame
   * @param onError called at most once with a description of the malformed header
   * @param maxFrame largest accepted remaining length in bytes (default 16 MiB)
   */
  constructor (onFrame: FrameHandler, onError: (message: string) => void, maxFrame = 16 * 1024 * 1024) {
    this.#onFrame = onFrame
    this.#onError = onError
    this.#maxFrame = maxFrame
  }

  /** True once a malformed header was seen. */
  get failed (): boolean { return this.#failed }

  /** Bytes held from an incomplete frame. */
  get pendingBytes (): number { return this.#pending === null ? 0 : this.#pending.length }

  /** Feeds one chunk. Never throws (unless `onFrame` does). */
  push (chunk: Buffer): void {
    if (this.#failed) return
    let buf = chunk
    if (this.#pending !== null) {
      buf = Buffer.concat([this.#pending, chunk])
      this.#pending = null
    }
    const n = buf.length
    let off = 0
    while (off < n) {
      let i = off + 1
      let len = 0
      let mult = 1
      let complete = false
      for (let k = 0; k < 4 && i < n; k++) {
        const b = buf[i++] as number
        len += (b & 127) * mult
        mult *= 128
        if (b < 128) { complete = true; break }
      }
      if (!complete) {
        if (i - off - 1 >= 4) return this.#fail(`remaining length needs more than 4 bytes (offset ${off + 1})`)
        break
      }
      if (len > this.#maxFrame) return this.#fail(`remaining length ${len} exceeds ${this.#maxFrame} (offset ${off + 1})`)
      const end = i + len
      if (end > n) break
      const b0 = buf[off] as number
      this.#onFrame(b0 >> 4, b0 & 15, buf, i, end)
      off = end
    }
    if (off < n) this.#pending = off === 0 ? buf : buf.subarray(off)
  }

  #fail (message: string): void {
    this.#failed = true
    this.#pending = null
    this.#onError(message)
  }
}
